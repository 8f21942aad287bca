/**
 * A variant's measured model card (card.json beside its model file, written by `tritgate family`
 * / `tritgate eval`): the router's quality score and the seed of its rate averages. A quality in
 * the config overrides the card's; the card's measured rates replace the config's inline seeds.
 */
import { basename } from "node:path";
import { type CardEntry, modelCardPath, readModelCardFile } from "../formats/card/index.js";
import type { VariantConfig } from "./schema.js";

/** What the gateway takes from a card: the router's quality score (capped at 1) and the seeds of its rate averages. */
export type MeasuredCard = Readonly<Pick<CardEntry, "prefillTokensPerSecond" | "decodeTokensPerSecond">> & {
  /** the card file */
  readonly path: string;
  readonly quality?: number;
};

/**
 * The card beside `modelPath` (its `alternatives` entry when the card lists this file there), or
 * undefined when there is none; throws naming the file when it is not valid JSON or not a model card.
 */
export function readModelCard(modelPath: string): MeasuredCard | undefined {
  const path = modelCardPath(modelPath);
  const card = readModelCardFile(path);
  if (card === undefined) return undefined;
  const file = basename(modelPath);
  const entry = card.file === file ? card : (card.alternatives?.find((a) => a.file === file) ?? card);
  const quality = entry.quality?.quality;
  return {
    path,
    ...(quality !== undefined && { quality: Math.min(1, quality) }),
    ...(entry.prefillTokensPerSecond !== undefined && { prefillTokensPerSecond: entry.prefillTokensPerSecond }),
    ...(entry.decodeTokensPerSecond !== undefined && { decodeTokensPerSecond: entry.decodeTokensPerSecond }),
  };
}

export interface ResolvedVariantFigures {
  readonly quality: number;
  readonly qualitySource: "config" | "card" | "reference" | "assumed";
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
}

/**
 * Quality: the config's, else the card's, else 1 for the family's reference, else `assumed`.
 * Rates: the card's measured ones, else the config's.
 */
export function resolveVariantFigures(
  variant: Pick<VariantConfig, "quality" | "card">,
  card: MeasuredCard | undefined,
  isReference: boolean,
  assumed: number,
): ResolvedVariantFigures {
  const [quality, qualitySource] =
    variant.quality !== undefined
      ? [variant.quality, "config" as const]
      : card?.quality !== undefined
        ? [isReference ? 1 : card.quality, "card" as const]
        : isReference
          ? [1, "reference" as const]
          : [assumed, "assumed" as const];
  return {
    quality,
    qualitySource,
    prefillTokensPerSecond: card?.prefillTokensPerSecond ?? variant.card.prefillTokensPerSecond,
    decodeTokensPerSecond: card?.decodeTokensPerSecond ?? variant.card.decodeTokensPerSecond,
  };
}
