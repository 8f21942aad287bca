/**
 * `tritgate eval` writes what it measured into the model card beside the model (card.json, as
 * `tritgate family` writes it), when that card describes this very file: quality and speed are
 * measured, never typed in, and the gateway reads them from the card.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../util/write-file-atomic.js";
import type { EvalResult } from "./evaluate.js";

/** Updates card.json beside `model`; returns its path, or undefined when there is no card for this file. */
export async function recordInCard(model: string, result: EvalResult, split: string): Promise<string | undefined> {
  const path = join(dirname(model), "card.json");
  if (!existsSync(path)) return undefined;
  const card = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown> & {
    file?: string;
    quality?: Record<string, unknown>;
  };
  if (card.file !== basename(model)) return undefined;
  const quality: Record<string, unknown> = {
    ...card.quality,
    split,
    tokens: result.tokens,
    perplexity: result.perplexity,
    top1Accuracy: result.top1Accuracy,
  };
  if (result.quality !== undefined) quality.quality = result.quality;
  if (result.referencePerplexity !== undefined) quality.referencePerplexity = result.referencePerplexity;
  if (result.top1Agreement !== undefined) quality.top1Agreement = result.top1Agreement;
  const updated = {
    ...card,
    quality,
    bytesOnDisk: result.bytesOnDisk,
    prefillTokensPerS: result.prefillTokensPerSecond,
    decodeTokensPerS: result.decodeTokensPerSecond,
    ...(result.rssBytes !== undefined && { rssBytes: result.rssBytes }),
    machine: result.machine,
    measuredAt: result.measuredAt,
  };
  await writeFileAtomic(path, `${JSON.stringify(updated, null, 2)}\n`);
  return path;
}
