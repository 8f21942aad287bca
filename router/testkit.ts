/** Builders and fast-check arbitraries for the router's tests (not part of the exported surface). */

import fc from "fast-check";
import { type BreakerState, CLOSED_BREAKER } from "./circuit.js";
import { seedRates } from "./predict.js";
import type { RequestFeatures, Signal, Tier, VariantState } from "./types.js";

const NO_SIGNAL: Signal = { score: 0, flagged: false, evidence: [] };

export function features(over: Partial<RequestFeatures> = {}): RequestFeatures {
  return {
    promptTokens: 100,
    expectedOutputTokens: 100,
    expectedOutputSource: "max_tokens",
    signals: { code: NO_SIGNAL, math: NO_SIGNAL, multiStep: NO_SIGNAL, length: NO_SIGNAL },
    contentNeed: 0.4,
    qualityNeed: 0.4,
    qualityNeedSource: "analysis",
    slaMsHint: null,
    ...over,
  };
}

/**
 * A variant. With the default features (100 prompt + 100 output tokens), an idle variant predicts
 * TTFT = 100 000 / prefill ms and total = TTFT + 100 000 / decode ms; cost = total seconds × cores × price / 3600.
 */
export function variant(name: string, over: Partial<VariantState> = {}): VariantState {
  const card = over.card ?? { prefillTokensPerSecond: 1000, decodeTokensPerSecond: 100 };
  return {
    name,
    family: "nano",
    engine: "bitnet",
    quality: 0.8,
    card,
    rates: seedRates(card),
    running: 0,
    waiting: 0,
    slots: 4,
    breaker: CLOSED_BREAKER,
    cost: { pricePerCoreHour: 0.05, wattsPerCore: 10, coresPerRequest: 1 },
    ...over,
  };
}

/** The nano family: a cheap fast ternary variant and the full-precision reference, four times costlier. */
export function ternary(over: Partial<VariantState> = {}): VariantState {
  return variant("nano-b158", { quality: 0.8, ...over });
}

export function fullPrecision(over: Partial<VariantState> = {}): VariantState {
  return variant("nano-fp32", {
    engine: "onnx",
    quality: 1,
    card: { prefillTokensPerSecond: 500, decodeTokensPerSecond: 50 },
    rates: seedRates({ prefillTokensPerSecond: 500, decodeTokensPerSecond: 50 }),
    cost: { pricePerCoreHour: 0.05, wattsPerCore: 10, coresPerRequest: 2 },
    ...over,
  });
}

export function tier(over: Partial<Tier> = {}): Tier {
  return {
    name: "standard",
    qualityFloor: 0,
    ttftSlaMs: 1000,
    totalSlaMs: 5000,
    allowedVariants: ["nano-b158", "nano-fp32"],
    onOverload: "degrade",
    maxQueueWaitMs: 2000,
    priority: 1,
    strategy: "sla",
    cascadeThreshold: -1.5,
    pricePer1kInput: 0.001,
    pricePer1kOutput: 0.002,
    ...over,
  };
}

export const OPEN_BREAKER: BreakerState = { state: "open", openedAtMs: 0, retryAtMs: 30_000 };

// ── arbitraries ────────────────────────────────────────────────────────────────────────────────────────

const NAMES = ["a-b158", "b-b158", "c-fp16", "d-fp32", "e-int8"] as const;

const breakerArb: fc.Arbitrary<BreakerState> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(CLOSED_BREAKER) },
  fc.record({
    state: fc.constant("open" as const),
    openedAtMs: fc.constant(0),
    retryAtMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  fc.record({ state: fc.constant("half_open" as const), probeInFlight: fc.boolean() }),
);

function variantArb(name: string): fc.Arbitrary<VariantState> {
  return fc
    .record({
      quality: fc.integer({ min: 1, max: 100 }).map((q) => q / 100),
      prefill: fc.integer({ min: 50, max: 5000 }),
      decode: fc.integer({ min: 5, max: 200 }),
      running: fc.integer({ min: 0, max: 8 }),
      waiting: fc.integer({ min: 0, max: 20 }),
      slots: fc.integer({ min: 1, max: 8 }),
      breaker: breakerArb,
      price: fc.integer({ min: 1, max: 100 }).map((p) => p / 100),
      cores: fc.integer({ min: 1, max: 8 }),
    })
    .map((r) =>
      variant(name, {
        engine: name.includes("b158") ? "bitnet" : "onnx",
        quality: r.quality,
        card: { prefillTokensPerSecond: r.prefill, decodeTokensPerSecond: r.decode },
        rates: seedRates({ prefillTokensPerSecond: r.prefill, decodeTokensPerSecond: r.decode }),
        running: r.running,
        waiting: r.waiting,
        slots: r.slots,
        breaker: r.breaker,
        cost: { pricePerCoreHour: r.price, wattsPerCore: 10, coresPerRequest: r.cores },
      }),
    );
}

export const variantsArb: fc.Arbitrary<VariantState[]> = fc
  .subarray([...NAMES], { minLength: 1 })
  .chain((names) => fc.tuple(...names.map(variantArb)));

export const tierArb: fc.Arbitrary<Tier> = fc
  .record({
    qualityFloor: fc.integer({ min: 0, max: 100 }).map((q) => q / 100),
    ttftSlaMs: fc.integer({ min: 50, max: 5000 }),
    totalSlaMs: fc.integer({ min: 200, max: 60_000 }),
    allowedVariants: fc.subarray([...NAMES, "z-unknown"]),
    onOverload: fc.constantFrom("degrade" as const, "queue" as const, "reject" as const),
    maxQueueWaitMs: fc.integer({ min: 0, max: 20_000 }),
    strategy: fc.oneof(
      { weight: 5, arbitrary: fc.constant("sla" as const) },
      fc.constantFrom("cheapest" as const, "quality" as const, "cascade" as const),
    ),
  })
  .map((r) => tier(r));

export const featuresArb: fc.Arbitrary<RequestFeatures> = fc
  .record({
    promptTokens: fc.integer({ min: 0, max: 4000 }),
    expectedOutputTokens: fc.integer({ min: 1, max: 1000 }),
    qualityNeed: fc.integer({ min: 0, max: 100 }).map((q) => q / 100),
    slaMsHint: fc.option(fc.integer({ min: 100, max: 60_000 })),
  })
  .map((r) => features(r));
