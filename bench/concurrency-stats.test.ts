import { describe, expect, it } from "vitest";
import { percentile, summarize, summarizeRounds } from "./concurrency-stats.js";

/** A stream submitted at `submittedAt` whose tokens arrive every `every` ms from `firstAt`. */
const stream = (submittedAt: number, firstAt: number, count: number, every: number) => ({
  submittedAt,
  tokenTimes: Array.from({ length: count }, (_, i) => firstAt + i * every),
});

describe("bench:concurrency's stream statistics", () => {
  it("percentile is nearest-rank", () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1, unsorted
    expect(percentile(values, 95)).toBe(19);
    expect(percentile(values, 50)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBeNaN();
  });

  it("counts only the window in which every stream is decoding", () => {
    // A: first token at 10, then one every 10 ms up to 100. B: prefill until 50, then every 10 ms up to 140.
    const a = stream(0, 10, 10, 10); // 10, 20, ..., 100
    const b = stream(0, 50, 10, 10); // 50, 60, ..., 140
    const s = summarize([a, b]);
    // window [50, 100]: A has 50..100 and B has 50..100, 5 intervals in 50 ms each -> 100/s + 100/s
    expect(s.decodeWindow).toBe("steady");
    expect(s.decodeWindowMs).toBe(50);
    expect(s.decodeTokensPerSecond).toBeCloseTo(200, 9);
    expect(s.tokens).toBe(20);
    expect(s.totalTokensPerSecond).toBeCloseTo((20 * 1000) / 140, 9);
    expect(s.ttftMs).toEqual({ p50: 10, p95: 50, max: 50 });
  });

  it("counts a batched step's tokens once however its messages are ordered at the window's edges", () => {
    // 4 streams stepped together every 10 ms; within a step the tokens arrive a few µs apart, and
    // the stream that defines each edge is the first or the last of its step
    const streams = [0, 1, 2, 3].map((i) => ({
      submittedAt: 0,
      tokenTimes: Array.from({ length: 20 }, (_, k) => 10 + k * 10 + (i === 3 ? 0.003 : i * 0.001)),
    }));
    // every stream makes 100 tokens/s, the four together 400
    expect(summarize(streams).decodeTokensPerSecond).toBeCloseTo(400, 0);
  });

  it("falls back to the whole run when the streams never decode together", () => {
    const a = stream(0, 10, 5, 10); // 10..50
    const b = stream(0, 60, 5, 10); // 60..100: started after A ended
    const s = summarize([a, b]);
    expect(s.decodeWindow).toBe("whole-run");
    // tokens after each stream's first (8) over first-first to last-last (10..100)
    expect(s.decodeTokensPerSecond).toBeCloseTo((8 * 1000) / 90, 9);
  });

  it("keeps the fastest round's rate, and TTFT and CPU rate over every round", () => {
    const slow = { traces: [stream(0, 100, 11, 20)], cpuMs: 400 }; // 10 tokens after the first in 200 ms: 50/s
    const fast = { traces: [stream(0, 10, 11, 10)], cpuMs: 100 }; // 100/s
    const s = summarizeRounds([slow, fast]);
    expect(s.rounds).toBe(2);
    expect(s.roundDecodeTokensPerSecond.map((r) => Math.round(r))).toEqual([50, 100]);
    expect(s.decodeTokensPerSecond).toBeCloseTo(100, 9);
    expect(s.ttftMs.max).toBe(100);
    expect(s.tokensPerCpuSecond).toBeCloseTo((22 * 1000) / 500, 9);
  });
});
