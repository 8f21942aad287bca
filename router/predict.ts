/**
 * Latency and cost prediction per variant, and the moving averages the prediction runs on.
 *
 *   queue  = load + max(0, running + waiting − slots + 1) × serviceMs / slots
 *            (an unloaded variant's load time first, then the completions needed before this request
 *            gets a slot, at `slots` completions per service time)
 *   TTFT   = queue + promptTokens / prefillRate
 *   total  = TTFT + expectedOutputTokens / decodeRate
 *   cost, energy and price: `costOf` and `priceOf` (cost.ts) of the predicted prefill + decode time and tokens
 */

import { costOf, priceOf } from "./cost.js";
import type { CardRates, LiveRates, Prediction, RequestFeatures, TierPrices, VariantState } from "./types.js";

/** Live rates last updated this long ago count half; idle variants drift back to their card figures. */
export const RATE_HALF_LIFE_MS = 5 * 60_000;
/** The request shape the card-seeded mean service time assumes. */
export const SEED_PROMPT_TOKENS = 256;
export const SEED_OUTPUT_TOKENS = 128;
/** Floor on any rate, so predictions stay finite (and JSON-serialisable) when a rate is zero. */
const MIN_RATE = 1e-3;

export interface PredictContext {
  /** When given, live rates are blended back towards the card by their age (see RATE_HALF_LIFE_MS). */
  readonly now?: number | undefined;
  readonly prices?: TierPrices | undefined;
}

export function predict(variant: VariantState, features: RequestFeatures, context: PredictContext = {}): Prediction {
  const rates = effectiveRates(variant, context.now);
  const slots = Math.max(1, Math.floor(variant.slots));
  const ahead = Math.max(0, count(variant.running) + count(variant.waiting) - slots + 1);
  const loadMs = nonNegative(variant.loadMs ?? 0);
  const queueMs = loadMs + (ahead * rates.serviceMs) / slots;
  const prefillMs = (1000 * features.promptTokens) / rates.prefillTokensPerSecond;
  const decodeMs = (1000 * features.expectedOutputTokens) / rates.decodeTokensPerSecond;
  const serving = costOf(variant.cost, prefillMs + decodeMs);
  const prices = context.prices;
  return {
    loadMs,
    queueMs,
    prefillMs,
    decodeMs,
    ttftMs: queueMs + prefillMs,
    totalMs: queueMs + prefillMs + decodeMs,
    cpuSeconds: serving.cpuSeconds,
    cost: serving.cost,
    energyJ: serving.energyJ,
    price: prices ? priceOf(prices, features.promptTokens, features.expectedOutputTokens) : 0,
  };
}

/** The starting rates of a variant with no observations: its model card's figures. */
export function seedRates(card: CardRates): LiveRates {
  const prefill = rate(card.prefillTokensPerSecond);
  const decode = rate(card.decodeTokensPerSecond);
  return {
    prefillTokensPerSecond: prefill,
    decodeTokensPerSecond: decode,
    serviceMs: 1000 * (SEED_PROMPT_TOKENS / prefill + SEED_OUTPUT_TOKENS / decode),
    samples: 0,
    updatedAtMs: null,
  };
}

/** What one finished request measured. Phases with no tokens or no time leave their rate alone. */
export interface RateObservation {
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly atMs: number;
}

/** The next EWMA state: each rate moves `alpha` of the way towards the observation. alpha ∈ (0, 1]. */
export function updateRates(rates: LiveRates, observation: RateObservation, alpha: number): LiveRates {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EWMA alpha must be in (0, 1], got ${alpha}`);
  const { promptTokens, outputTokens, prefillMs, decodeMs } = observation;
  const move = (old: number, sample: number) => old + alpha * (sample - old);
  const prefill =
    promptTokens > 0 && prefillMs > 0
      ? move(rates.prefillTokensPerSecond, (1000 * promptTokens) / prefillMs)
      : rates.prefillTokensPerSecond;
  const decode =
    outputTokens > 0 && decodeMs > 0
      ? move(rates.decodeTokensPerSecond, (1000 * outputTokens) / decodeMs)
      : rates.decodeTokensPerSecond;
  const service = nonNegative(prefillMs) + nonNegative(decodeMs);
  return {
    prefillTokensPerSecond: rate(prefill),
    decodeTokensPerSecond: rate(decode),
    serviceMs: service > 0 ? move(rates.serviceMs, service) : rates.serviceMs,
    samples: rates.samples + 1,
    updatedAtMs: observation.atMs,
  };
}

/** The rates a prediction at `now` uses: live rates, weighted towards the card as they age. */
export function effectiveRates(variant: VariantState, now?: number): LiveRates {
  const live = variant.rates;
  const seed = seedRates(variant.card);
  const liveWeight =
    now === undefined || live.updatedAtMs === null
      ? 1
      : 0.5 ** (Math.max(0, now - live.updatedAtMs) / RATE_HALF_LIFE_MS);
  return {
    prefillTokensPerSecond: rate(blend(live.prefillTokensPerSecond, seed.prefillTokensPerSecond, liveWeight)),
    decodeTokensPerSecond: rate(blend(live.decodeTokensPerSecond, seed.decodeTokensPerSecond, liveWeight)),
    serviceMs: nonNegative(blend(live.serviceMs, seed.serviceMs, liveWeight)),
    samples: live.samples,
    updatedAtMs: live.updatedAtMs,
  };
}

/** `live` weighted `liveWeight`, the rest `seed` (a module function: it runs per variant per request). */
function blend(live: number, seed: number, liveWeight: number): number {
  return seed + liveWeight * (live - seed);
}

function rate(x: number): number {
  return Number.isFinite(x) && x > MIN_RATE ? x : MIN_RATE;
}

function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

function count(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.floor(x) : 0;
}
