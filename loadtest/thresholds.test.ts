import { describe, expect, it } from "vitest";
import type { Thresholds } from "./resolve.js";
import { type Sample, summarise } from "./summary.js";
import { breaches } from "./thresholds.js";

const THRESHOLDS: Thresholds = {
  ttftP95Ms: 800,
  durationP95Ms: 10_000,
  maxErrorRate: 0.1,
  maxDegradedShare: 0.2,
  maxDropped: 0,
};

function answer(ttftMs: number | undefined, durationMs: number, degraded = false, variant = "nano-b158"): Sample {
  return {
    variant,
    stream: ttftMs !== undefined,
    status: 200,
    ok: true,
    ttftMs,
    durationMs,
    endMs: durationMs,
    degraded,
    error: undefined,
  };
}
const failure = (status: number, error: string): Sample => ({
  stream: false,
  status,
  ok: false,
  ttftMs: undefined,
  durationMs: 5,
  endMs: 5,
  degraded: false,
  variant: undefined,
  error,
});

/** 20 streamed answers whose TTFTs are 1..20 × `step` ms, each lasting 10 × its TTFT. */
const streamed = (step: number) => Array.from({ length: 20 }, (_, i) => answer((i + 1) * step, (i + 1) * step * 10));

describe("summarise", () => {
  it("takes percentiles over the answers, shares over what was sent, rates over the run", () => {
    const samples = [...streamed(10), answer(undefined, 50, true, "nano-fp32"), failure(429, "rejected_overload")];
    const s = summarise("premium", samples, 2, 10, THRESHOLDS);
    expect(s.arrivals).toBe(24);
    expect(s.sent).toBe(22);
    expect(s.answered).toBe(21);
    expect(s.streamed).toBe(20);
    expect(s.offeredPerSecond).toBeCloseTo(2.4);
    expect(s.achievedPerSecond).toBeCloseTo(2.1); // every answer ended inside the 10 s
    expect(s.ttftMs).toEqual({ p50: 100, p95: 190, p99: 200 });
    expect(s.durationMs.p95).toBe(1900);
    expect(s.errors).toBe(1);
    expect(s.errorRate).toBeCloseTo(1 / 22);
    expect(s.errorReasons).toEqual({ "429 rejected_overload": 1 });
    expect(s.degradedShare).toBeCloseTo(1 / 21);
    expect(s.variants).toEqual({ "nano-b158": 20, "nano-fp32": 1 });
    expect(s.dropped).toBe(2);
  });

  it("lowers the achieved rate when answers come after the scheduled window", () => {
    const late = [answer(undefined, 20_000), answer(undefined, 1000)];
    expect(summarise("free", late, 0, 10, THRESHOLDS).achievedPerSecond).toBeCloseTo(2 / 20);
  });
});

describe("breaches", () => {
  it("passes at the SLA and fails one millisecond over it", () => {
    // TTFT p95 = 19th of 20: 19 × 42.1… ≤ 800; duration p95 = 10 × that
    const at = summarise("premium", streamed(800 / 19), 0, 10, THRESHOLDS);
    expect(at.ttftMs.p95).toBeCloseTo(800);
    expect(breaches(at, true)).toEqual([]);
    const over = summarise("premium", streamed(801 / 19), 0, 10, THRESHOLDS);
    expect(breaches(over, true).map((b) => b.threshold)).toEqual(["ttft_p95"]);
    const slow = summarise(
      "premium",
      streamed(10).map((s) => ({ ...s, durationMs: 10_001 })),
      0,
      10,
      THRESHOLDS,
    );
    expect(breaches(slow, true).map((b) => b.threshold)).toEqual(["duration_p95"]);
  });

  it("names the error reasons when the error budget is spent", () => {
    const samples = [...streamed(10).slice(0, 8), failure(429, "rejected_overload"), failure(0, "timeout")];
    const found = breaches(summarise("free", samples, 0, 10, THRESHOLDS), true);
    expect(found.map((b) => b.threshold)).toEqual(["error_rate"]);
    expect(found[0]?.message).toMatch(
      /2 of 10 requests failed \(20\.0%, allowed 10\.0%\).*429 rejected_overload.*0 timeout/,
    );
    // one in ten is within the budget
    const oneInTen = [...streamed(10).slice(0, 9), failure(429, "rejected_overload")];
    expect(breaches(summarise("free", oneInTen, 0, 10, THRESHOLDS), true)).toEqual([]);
  });

  it("fails on degraded answers over the share, any dropped arrival, no answer or no TTFT", () => {
    const degraded = streamed(10).map((s, i) => ({ ...s, degraded: i < 5 }));
    expect(breaches(summarise("standard", degraded, 0, 10, THRESHOLDS), true).map((b) => b.threshold)).toEqual([
      "degraded_share",
    ]);
    expect(breaches(summarise("standard", streamed(10), 1, 10, THRESHOLDS), true).map((b) => b.threshold)).toEqual([
      "dropped",
    ]);
    const none = breaches(summarise("standard", [failure(503, "unavailable")], 0, 10, THRESHOLDS), true);
    expect(none.map((b) => b.threshold)).toEqual(["answers", "error_rate"]);
    const wholeOnly = [answer(undefined, 100)];
    expect(breaches(summarise("standard", wholeOnly, 0, 10, THRESHOLDS), true).map((b) => b.threshold)).toEqual([
      "ttft_p95",
    ]);
    expect(breaches(summarise("standard", wholeOnly, 0, 10, THRESHOLDS), false)).toEqual([]);
  });
});
