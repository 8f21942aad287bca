/**
 * What serving a request costs and what the tenant pays for it, from engine time and token counts.
 * The router predicts with these (from predicted times and tokens) and the server accounts with the
 * same functions (from measured ones), so a prediction and its outcome are comparable.
 *
 *   CPU-seconds = engine seconds (prefill + decode) × cores per request
 *   cost        = CPU-seconds × price per core-hour / 3600
 *   energy      = CPU-seconds × watts per core
 *   price       = prompt tokens / 1000 × tier input price + output tokens / 1000 × tier output price
 */

import type { CostParams, TierPrices } from "./types.js";

export interface ServingCost {
  readonly cpuSeconds: number;
  /** in the configured currency unit */
  readonly cost: number;
  readonly energyJ: number;
}

export function costOf(params: CostParams, engineMs: number): ServingCost {
  const cpuSeconds = (nonNegative(engineMs) / 1000) * nonNegative(params.coresPerRequest);
  return {
    cpuSeconds,
    cost: (cpuSeconds * nonNegative(params.pricePerCoreHour)) / 3600,
    energyJ: cpuSeconds * nonNegative(params.wattsPerCore),
  };
}

export function priceOf(prices: TierPrices, promptTokens: number, outputTokens: number): number {
  return (
    (promptTokens / 1000) * nonNegative(prices.pricePer1kInput) +
    (outputTokens / 1000) * nonNegative(prices.pricePer1kOutput)
  );
}

function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
