/**
 * `tritgate eval` writes what it measured into the model card beside the model (card.json, as
 * `tritgate family` writes it), when that card describes this very file: quality and speed are
 * measured, never typed in, and the gateway reads them from the card. A file the card lists
 * under `alternatives` (nano-b158's I2_S copy) is recorded in its entry there.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { type CardEntry, formatModelCard, modelCardPath, parseModelCard } from "../formats/card/index.js";
import { writeFileAtomic } from "../util/write-file-atomic.js";
import type { EvalResult } from "./evaluate.js";

function measured<E extends CardEntry>(entry: E, result: EvalResult, split: string): E {
  return {
    ...entry,
    quality: {
      ...entry.quality,
      split,
      tokens: result.tokens,
      perplexity: result.perplexity,
      top1Accuracy: result.top1Accuracy,
      ...(result.quality !== undefined && { quality: result.quality }),
      ...(result.referencePerplexity !== undefined && { referencePerplexity: result.referencePerplexity }),
      ...(result.top1Agreement !== undefined && { top1Agreement: result.top1Agreement }),
    },
    bytesOnDisk: result.bytesOnDisk,
    prefillTokensPerSecond: result.prefillTokensPerSecond,
    decodeTokensPerSecond: result.decodeTokensPerSecond,
    ...(result.rssBytes !== undefined && { rssBytes: result.rssBytes }),
    machine: result.machine,
    measuredAt: result.measuredAt,
  };
}

/** Updates card.json beside `model`; returns its path, or undefined when there is no card for this file. */
export async function recordInCard(model: string, result: EvalResult, split: string): Promise<string | undefined> {
  const path = modelCardPath(model);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const card = parseModelCard(text, path);
  const file = basename(model);
  let updated: typeof card;
  if (card.file === file) updated = measured(card, result, split);
  else if (card.alternatives?.some((a) => a.file === file)) {
    updated = {
      ...card,
      alternatives: card.alternatives.map((a) => (a.file === file ? measured(a, result, split) : a)),
    };
  } else return undefined;
  await writeFileAtomic(path, formatModelCard(updated));
  return path;
}
