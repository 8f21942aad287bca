/**
 * `tritgate eval` writes what it measured into the model card beside the model (card.json, as
 * `tritgate family` writes it), when that card describes this very file: quality and speed are
 * measured, never typed in, and the gateway reads them from the card. A file the card lists
 * under `alternatives` (nano-b158's I2_S copy) is recorded in its entry there.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../util/write-file-atomic.js";
import type { EvalResult } from "./evaluate.js";

type CardEntry = Record<string, unknown> & { file?: string; quality?: Record<string, unknown> };

function measured(entry: CardEntry, result: EvalResult, split: string): CardEntry {
  const quality: Record<string, unknown> = {
    ...entry.quality,
    split,
    tokens: result.tokens,
    perplexity: result.perplexity,
    top1Accuracy: result.top1Accuracy,
  };
  if (result.quality !== undefined) quality.quality = result.quality;
  if (result.referencePerplexity !== undefined) quality.referencePerplexity = result.referencePerplexity;
  if (result.top1Agreement !== undefined) quality.top1Agreement = result.top1Agreement;
  return {
    ...entry,
    quality,
    bytesOnDisk: result.bytesOnDisk,
    prefillTokensPerS: result.prefillTokensPerSecond,
    decodeTokensPerS: result.decodeTokensPerSecond,
    ...(result.rssBytes !== undefined && { rssBytes: result.rssBytes }),
    machine: result.machine,
    measuredAt: result.measuredAt,
  };
}

/** Updates card.json beside `model`; returns its path, or undefined when there is no card for this file. */
export async function recordInCard(model: string, result: EvalResult, split: string): Promise<string | undefined> {
  const path = join(dirname(model), "card.json");
  if (!existsSync(path)) return undefined;
  const card = JSON.parse(await readFile(path, "utf8")) as CardEntry & { alternatives?: CardEntry[] };
  const file = basename(model);
  let updated: CardEntry;
  if (card.file === file) updated = measured(card, result, split);
  else if (card.alternatives?.some((a) => a.file === file)) {
    updated = {
      ...card,
      alternatives: card.alternatives.map((a) => (a.file === file ? measured(a, result, split) : a)),
    };
  } else return undefined;
  await writeFileAtomic(path, `${JSON.stringify(updated, null, 2)}\n`);
  return path;
}
