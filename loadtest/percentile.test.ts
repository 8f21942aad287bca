import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { percentile } from "./percentile.js";

describe("percentile (nearest rank)", () => {
  it("picks the sample of rank ⌈p/100 · n⌉", () => {
    const values = [15, 20, 35, 40, 50];
    expect(percentile(values, 5)).toBe(15);
    expect(percentile(values, 30)).toBe(20);
    expect(percentile(values, 40)).toBe(20);
    expect(percentile(values, 50)).toBe(35);
    expect(percentile(values, 100)).toBe(50);
    // 20 samples 1..20: p95 is the 19th, p99 the 20th
    const twenty = Array.from({ length: 20 }, (_, i) => 20 - i);
    expect(percentile(twenty, 95)).toBe(19);
    expect(percentile(twenty, 99)).toBe(20);
    expect(percentile(twenty, 50)).toBe(10);
  });

  it("is undefined without samples and refuses p outside (0, 100]", () => {
    expect(percentile([], 95)).toBeUndefined();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("returns an observed value with at least p % of samples at or below it, and fewer below it", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        (values, p) => {
          const r = percentile(values, p)!;
          expect(values).toContain(r);
          const atOrBelow = values.filter((v) => v <= r).length;
          const below = values.filter((v) => v < r).length;
          expect(atOrBelow).toBeGreaterThanOrEqual((p / 100) * values.length - 1e-9);
          expect(below).toBeLessThan((p / 100) * values.length);
        },
      ),
    );
  });

  it("does not reorder its input", () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });
});
