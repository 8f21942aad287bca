import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AttemptSample,
  type CanaryBounds,
  canaryPoint,
  DEFAULT_CANARY_BOUNDS,
  judgeCanary,
  routesToCanary,
  summarize,
} from "./canary.js";

const ok = (ms: number): AttemptSample => ({ ok: true, ms });
const failed: AttemptSample = { ok: false, ms: 3 };
const repeat = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const bounds: CanaryBounds = DEFAULT_CANARY_BOUNDS;

describe("summarize", () => {
  it("counts successes and takes the nearest-rank p95 of the successful attempts only", () => {
    const samples = [...repeat(100, (i) => ok(i + 1)), failed, failed];
    const s = summarize(samples);
    expect(s).toEqual({ requests: 102, successes: 100, successRate: 100 / 102, p95Ms: 95 });
  });

  it("an empty window has nothing against it and no latency", () => {
    expect(summarize([])).toEqual({ requests: 0, successes: 0, successRate: 1, p95Ms: null });
    expect(summarize([failed]).p95Ms).toBeNull();
  });
});

describe("routesToCanary", () => {
  it("is deterministic per key, never at weight 0, always at weight 1", () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), (key, w) => {
        expect(routesToCanary(key, w)).toBe(routesToCanary(key, w));
        expect(routesToCanary(key, 0)).toBe(false);
        expect(routesToCanary(key, 1)).toBe(true);
        // a key on the canary at weight w stays there at any larger weight
        if (routesToCanary(key, w)) expect(routesToCanary(key, Math.min(1, w + 0.1))).toBe(true);
      }),
    );
  });

  it("sends about the weight's share of request ids to the canary", () => {
    const ids = repeat(20_000, (i) => `req_${i.toString(36)}x${(i * 7919).toString(16)}`);
    const share = ids.filter((id) => routesToCanary(id, 0.2)).length / ids.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.22);
    for (const id of ids.slice(0, 50)) expect(canaryPoint(id)).toBeGreaterThanOrEqual(0);
  });
});

describe("judgeCanary", () => {
  const stable = summarize(repeat(100, (i) => ok(100 + (i % 10))));

  it("decides nothing before the canary has minRequests attempts", () => {
    const canary = summarize(repeat(49, () => failed));
    expect(judgeCanary({ canary, canaryTotal: 49, stable, bounds })).toBeNull();
  });

  it("rolls back on a success rate under the bound, with the figures that crossed it", () => {
    const canary = summarize([...repeat(49, () => ok(100)), failed]);
    const verdict = judgeCanary({ canary, canaryTotal: 50, stable, bounds });
    expect(verdict?.action).toBe("rollback");
    expect(verdict?.rule).toBe("success_rate");
    expect(verdict?.reason).toContain("98.00%");
    expect(verdict?.reason).toContain("99.00%");
    expect(verdict?.figures.canary.successRate).toBe(0.98);
    expect(verdict?.figures.stable).toEqual(stable);
  });

  it("a success rate exactly at the bound passes", () => {
    const canary = summarize([...repeat(99, () => ok(100)), failed]);
    expect(judgeCanary({ canary, canaryTotal: 100, stable, bounds })).toBeNull();
  });

  it("rolls back on a p95 over maxP95Ratio times the stable p95", () => {
    const canary = summarize(repeat(60, () => ok(200)));
    const verdict = judgeCanary({ canary, canaryTotal: 60, stable, bounds });
    expect(verdict?.action).toBe("rollback");
    expect(verdict?.rule).toBe("p95_latency");
    expect(verdict?.reason).toContain("1.5x");
    const within = summarize(repeat(60, () => ok(160)));
    expect(judgeCanary({ canary: within, canaryTotal: 60, stable, bounds })).toBeNull();
  });

  it("does not judge latency, nor promote, while the stable window is short of minRequests", () => {
    const shortStable = summarize(repeat(10, () => ok(10)));
    const canary = summarize(repeat(300, () => ok(500)));
    expect(judgeCanary({ canary, canaryTotal: 300, stable: shortStable, bounds })).toBeNull();
  });

  it("promotes a healthy canary after promoteAfterRequests, and never when that is null", () => {
    const canary = summarize(repeat(200, () => ok(105)));
    expect(judgeCanary({ canary, canaryTotal: 199, stable, bounds })).toBeNull();
    const verdict = judgeCanary({ canary, canaryTotal: 200, stable, bounds });
    expect(verdict?.action).toBe("promote");
    expect(verdict?.rule).toBe("healthy");
    const manual = { ...bounds, promoteAfterRequests: null };
    expect(judgeCanary({ canary, canaryTotal: 10_000, stable, bounds: manual })).toBeNull();
  });

  it("never promotes a canary that breaks a bound (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ok: fc.boolean(), ms: fc.double({ min: 1, max: 1000, noNaN: true }) }), {
          minLength: 50,
          maxLength: 300,
        }),
        (samples) => {
          const canary = summarize(samples);
          const verdict = judgeCanary({ canary, canaryTotal: samples.length, stable, bounds });
          if (verdict?.action === "promote") {
            expect(canary.successRate).toBeGreaterThanOrEqual(bounds.minSuccessRate);
            expect(canary.p95Ms!).toBeLessThanOrEqual(bounds.maxP95Ratio * stable.p95Ms!);
          }
          if (canary.successRate < bounds.minSuccessRate) expect(verdict?.action).toBe("rollback");
        },
      ),
    );
  });
});
