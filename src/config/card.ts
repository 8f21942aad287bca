/**
 * A variant's measured model card (card.json beside its model file, written by `tritgate family`
 * / `tritgate eval`): the router's quality score and the seed of its rate averages. A quality in
 * the config overrides the card's; the card's measured rates replace the config's inline seeds.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { VariantConfig } from "./schema.js";

export interface MeasuredCard {
  readonly path: string;
  readonly quality?: number;
  readonly prefillTokensPerS?: number;
  readonly decodeTokensPerS?: number;
}

function positiveNumber(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined;
}

/** The card beside `modelPath`, or undefined when there is none; throws naming the file when it is unreadable. */
export function readModelCard(modelPath: string): MeasuredCard | undefined {
  const path = join(dirname(modelPath), "card.json");
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null) throw new Error(`${path}: expected a JSON object`);
  const card = json as { quality?: { quality?: unknown }; prefillTokensPerS?: unknown; decodeTokensPerS?: unknown };
  const quality = positiveNumber(card.quality?.quality);
  return {
    path,
    ...(quality !== undefined && { quality: Math.min(1, quality) }),
    ...(positiveNumber(card.prefillTokensPerS) !== undefined && {
      prefillTokensPerS: card.prefillTokensPerS as number,
    }),
    ...(positiveNumber(card.decodeTokensPerS) !== undefined && { decodeTokensPerS: card.decodeTokensPerS as number }),
  };
}

export interface ResolvedVariantFigures {
  readonly quality: number;
  readonly qualitySource: "config" | "card" | "reference" | "assumed";
  readonly prefillTokensPerS: number;
  readonly decodeTokensPerS: number;
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
    prefillTokensPerS: card?.prefillTokensPerS ?? variant.card.prefillTokensPerS,
    decodeTokensPerS: card?.decodeTokensPerS ?? variant.card.decodeTokensPerS,
  };
}
