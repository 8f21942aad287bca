/** max_tokens against the tier's ceiling. */
import type { TierConfig } from "../../tenants/index.js";
import { invalidRequest } from "../errors.js";

/** Used when neither the request nor the tier bounds the output (generation still stops at the context). */
export const TIER_DEFAULT_MAX_TOKENS = 4096;

export function maxTokensFor(requested: number | undefined, tier: TierConfig, param: string): number {
  const ceiling = tier.maxOutputTokens > 0 ? tier.maxOutputTokens : TIER_DEFAULT_MAX_TOKENS;
  if (requested === undefined) return ceiling;
  if (requested > ceiling) {
    throw invalidRequest(
      `${param} is too large: ${requested}. Your tier allows at most ${ceiling} output tokens per request.`,
      param,
      "invalid_value",
    );
  }
  return requested;
}
