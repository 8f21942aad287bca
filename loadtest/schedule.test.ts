import { describe, expect, it } from "vitest";
import { SCENARIOS } from "./scenarios.js";
import { arrivalOffsets, k6Rate, pickWeighted, planArrivals } from "./schedule.js";

const prompts = SCENARIOS.prompts;

describe("the open-loop schedule", () => {
  it("spaces ⌊rate · duration⌋ arrivals 1/rate apart from 0", () => {
    expect(arrivalOffsets(0.2, 30)).toEqual([0, 5000, 10000, 15000, 20000, 25000]);
    expect(arrivalOffsets(4, 1)).toEqual([0, 250, 500, 750]);
    expect(arrivalOffsets(1.8, 180)).toHaveLength(324);
    expect(arrivalOffsets(0.1, 5)).toEqual([]);
  });

  it("draws the same mix from the same seed and a different one from another", () => {
    const load = { ratePerSecond: 2, streamingShare: 0.5 };
    const a = planArrivals(load, prompts, 60, 7);
    expect(planArrivals(load, prompts, 60, 7)).toEqual(a);
    const b = planArrivals(load, prompts, 60, 8);
    expect(b.map((x) => [x.prompt.name, x.stream])).not.toEqual(a.map((x) => [x.prompt.name, x.stream]));
  });

  it("follows the streaming share and the prompts' weights", () => {
    const arrivals = planArrivals({ ratePerSecond: 100, streamingShare: 0.3 }, prompts, 200, 1);
    const n = arrivals.length;
    expect(n).toBe(20_000);
    expect(arrivals.filter((a) => a.stream).length / n).toBeCloseTo(0.3, 1);
    const total = prompts.reduce((s, p) => s + p.weight, 0);
    for (const p of prompts)
      expect(arrivals.filter((a) => a.prompt.name === p.name).length / n).toBeCloseTo(p.weight / total, 1);
    expect(planArrivals({ ratePerSecond: 10, streamingShare: 0 }, prompts, 10, 1).some((a) => a.stream)).toBe(false);
    expect(planArrivals({ ratePerSecond: 10, streamingShare: 1 }, prompts, 10, 1).every((a) => a.stream)).toBe(true);
  });

  it("picks a prompt by cumulative weight", () => {
    const [a, b, c, d] = prompts; // weights 4, 2, 2, 1 of 9
    expect(pickWeighted(prompts, 0)).toBe(a);
    expect(pickWeighted(prompts, 3.99 / 9)).toBe(a);
    expect(pickWeighted(prompts, 4 / 9)).toBe(b);
    expect(pickWeighted(prompts, 6.5 / 9)).toBe(c);
    expect(pickWeighted(prompts, 0.999)).toBe(d);
  });

  it("turns a rate into k6's whole rate per time unit", () => {
    expect(k6Rate(0.2)).toEqual({ rate: 1, timeUnit: "5s" });
    expect(k6Rate(0.25)).toEqual({ rate: 1, timeUnit: "4s" });
    expect(k6Rate(1.8)).toEqual({ rate: 9, timeUnit: "5s" });
    expect(k6Rate(4)).toEqual({ rate: 4, timeUnit: "1s" });
    expect(() => k6Rate(1 / 7200)).toThrow(/not a whole number/);
    for (const profile of Object.values(SCENARIOS.profiles))
      for (const t of profile.tiers) {
        const { rate, timeUnit } = k6Rate(t.ratePerSecond);
        expect(rate / Number.parseInt(timeUnit, 10)).toBeCloseTo(t.ratePerSecond, 9);
      }
  });
});
