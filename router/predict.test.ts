import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { effectiveRates, predict, RATE_HALF_LIFE_MS, seedRates, updateRates } from "./predict.js";
import { features, variant } from "./testkit.js";

const card = { prefillTokensPerSecond: 1000, decodeTokensPerSecond: 100 };

describe("predict", () => {
  it("computes queue, TTFT, total, cost, energy and price from the formulas", () => {
    // service = 256/1000 + 128/100 s = 1536 ms; 4 slots, 4 running + 2 waiting → 3 completions ahead
    const v = variant("v", { card, rates: seedRates(card), running: 4, waiting: 2, slots: 4 });
    const p = predict(v, features({ promptTokens: 500, expectedOutputTokens: 200 }), {
      prices: { pricePer1kInput: 0.01, pricePer1kOutput: 0.03 },
    });
    expect(p.queueMs).toBeCloseTo((3 * 1536) / 4, 9);
    expect(p.prefillMs).toBeCloseTo(500, 9);
    expect(p.decodeMs).toBeCloseTo(2000, 9);
    expect(p.ttftMs).toBeCloseTo(1152 + 500, 9);
    expect(p.totalMs).toBeCloseTo(1152 + 2500, 9);
    expect(p.cpuSeconds).toBeCloseTo(2.5, 12); // one core per request
    expect(p.cost).toBeCloseTo((2.5 * 0.05) / 3600, 15);
    expect(p.energyJ).toBeCloseTo(25, 9);
    expect(p.price).toBeCloseTo(0.005 + 0.006, 12);
  });

  it("has no queue while a slot is free, and prices at 0 without tier prices", () => {
    const p = predict(variant("v", { running: 3, waiting: 0, slots: 4 }), features());
    expect(p.queueMs).toBe(0);
    expect(p.price).toBe(0);
  });

  it("puts an unloaded variant's load time ahead of its queue, so into TTFT and total", () => {
    const f = features({ promptTokens: 500, expectedOutputTokens: 200 });
    const warm = predict(variant("v", { card, rates: seedRates(card), running: 4, waiting: 2, slots: 4 }), f);
    const cold = predict(
      variant("v", { card, rates: seedRates(card), running: 4, waiting: 2, slots: 4, loadMs: 900 }),
      f,
    );
    expect(warm.loadMs).toBe(0);
    expect(cold.loadMs).toBe(900);
    expect(cold.queueMs).toBeCloseTo(warm.queueMs + 900, 9);
    expect(cold.ttftMs).toBeCloseTo(warm.ttftMs + 900, 9);
    expect(cold.totalMs).toBeCloseTo(warm.totalMs + 900, 9);
    // serving costs the same once loaded: the load is wait, not work billed to this request
    expect(cold.cost).toBe(warm.cost);
    // a nonsense load figure waits for nothing
    expect(predict(variant("v", { loadMs: Number.NaN }), f).loadMs).toBe(0);
    expect(predict(variant("v", { loadMs: -5 }), f).loadMs).toBe(0);
  });

  it("stays finite when a rate is zero", () => {
    const broken = { prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 };
    const p = predict(variant("v", { card: broken, rates: seedRates(broken) }), features());
    for (const x of Object.values(p)) expect(Number.isFinite(x)).toBe(true);
  });

  const loadArb = fc.record({
    running: fc.integer({ min: 0, max: 16 }),
    waiting: fc.integer({ min: 0, max: 50 }),
    slots: fc.integer({ min: 1, max: 8 }),
    prompt: fc.integer({ min: 0, max: 8000 }),
    more: fc.integer({ min: 1, max: 100 }),
  });

  it("is monotone in queue length", () => {
    fc.assert(
      fc.property(loadArb, ({ running, waiting, slots, prompt, more }) => {
        const f = features({ promptTokens: prompt });
        const a = predict(variant("v", { running, waiting, slots }), f);
        const b = predict(variant("v", { running, waiting: waiting + more, slots }), f);
        expect(b.queueMs).toBeGreaterThanOrEqual(a.queueMs);
        expect(b.ttftMs).toBeGreaterThanOrEqual(a.ttftMs);
        expect(b.totalMs).toBeGreaterThanOrEqual(a.totalMs);
        if (running + waiting >= slots) expect(b.queueMs).toBeGreaterThan(a.queueMs);
      }),
    );
  });

  it("is monotone in prompt length", () => {
    fc.assert(
      fc.property(loadArb, ({ running, waiting, slots, prompt, more }) => {
        const v = variant("v", { running, waiting, slots });
        const a = predict(v, features({ promptTokens: prompt }));
        const b = predict(v, features({ promptTokens: prompt + more }));
        expect(b.ttftMs).toBeGreaterThan(a.ttftMs);
        expect(b.totalMs).toBeGreaterThan(a.totalMs);
        expect(b.cost).toBeGreaterThan(a.cost);
        expect(b.queueMs).toBe(a.queueMs);
      }),
    );
  });
});

describe("rates", () => {
  it("seeds from the card", () => {
    expect(seedRates(card)).toEqual({
      prefillTokensPerSecond: 1000,
      decodeTokensPerSecond: 100,
      serviceMs: 1536,
      samples: 0,
      updatedAtMs: null,
    });
  });

  it("moves each rate alpha of the way towards the observation", () => {
    const next = updateRates(
      seedRates(card),
      { promptTokens: 200, outputTokens: 50, prefillMs: 400, decodeMs: 1000, atMs: 7 },
      0.5,
    );
    // samples: prefill 500 tok/s, decode 50 tok/s, service 1400 ms
    expect(next).toEqual({
      prefillTokensPerSecond: 750,
      decodeTokensPerSecond: 75,
      serviceMs: 1468,
      samples: 1,
      updatedAtMs: 7,
    });
  });

  it("leaves a phase's rate alone when the observation has no tokens or no time for it", () => {
    const next = updateRates(
      seedRates(card),
      { promptTokens: 0, outputTokens: 10, prefillMs: 0, decodeMs: 0, atMs: 1 },
      0.3,
    );
    expect(next.prefillTokensPerSecond).toBe(1000);
    expect(next.decodeTokensPerSecond).toBe(100);
    expect(next.serviceMs).toBe(1536);
  });

  it("converges to a steady observation and rejects a bad alpha", () => {
    let r = seedRates(card);
    for (let k = 0; k < 200; k++) {
      r = updateRates(r, { promptTokens: 100, outputTokens: 100, prefillMs: 50, decodeMs: 4000, atMs: k }, 0.2);
    }
    expect(r.prefillTokensPerSecond).toBeCloseTo(2000, 6);
    expect(r.decodeTokensPerSecond).toBeCloseTo(25, 6);
    expect(() => updateRates(r, { promptTokens: 1, outputTokens: 1, prefillMs: 1, decodeMs: 1, atMs: 0 }, 0)).toThrow(
      RangeError,
    );
    expect(() => updateRates(r, { promptTokens: 1, outputTokens: 1, prefillMs: 1, decodeMs: 1, atMs: 0 }, 1.5)).toThrow(
      RangeError,
    );
  });

  it("blends stale live rates back towards the card by their age", () => {
    const live = { ...seedRates(card), decodeTokensPerSecond: 20, updatedAtMs: 0 };
    const v = variant("v", { card, rates: live });
    expect(effectiveRates(v).decodeTokensPerSecond).toBe(20);
    expect(effectiveRates(v, 0).decodeTokensPerSecond).toBe(20);
    expect(effectiveRates(v, RATE_HALF_LIFE_MS).decodeTokensPerSecond).toBeCloseTo(60, 9);
    expect(effectiveRates(v, 100 * RATE_HALF_LIFE_MS).decodeTokensPerSecond).toBeCloseTo(100, 6);
    const f = features();
    expect(predict(v, f, { now: RATE_HALF_LIFE_MS }).decodeMs).toBeLessThan(predict(v, f, { now: 0 }).decodeMs);
  });
});
