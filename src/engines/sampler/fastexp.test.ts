import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expNonPositive } from "./fastexp.js";

describe("expNonPositive", () => {
  it("matches Math.exp to a few ulps over the whole non-positive range", () => {
    fc.assert(
      fc.property(fc.double({ min: -700, max: 0, noNaN: true }), (x) => {
        const want = Math.exp(x);
        expect(Math.abs(expNonPositive(x) - want)).toBeLessThanOrEqual(want * 2e-15);
      }),
      { numRuns: 2000 },
    );
  });

  it("is exactly 1 at 0, 0 at -Infinity and deep underflow, and tiny but positive near the subnormal edge", () => {
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-0)).toBe(1);
    expect(expNonPositive(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(expNonPositive(-1e300)).toBe(0);
    expect(expNonPositive(-740)).toBeGreaterThan(0);
    // subnormal results keep only a few significant bits, so only a loose relative check applies here
    expect(Math.abs(expNonPositive(-740) / Math.exp(-740) - 1)).toBeLessThan(1e-2);
  });

  it("rounds the reduction correctly around the table boundaries", () => {
    for (let k = -2000; k <= 0; k++) {
      const x = (k * Math.LN2) / 64;
      for (const d of [-1e-12, 0, 1e-12]) {
        const v = Math.min(0, x + d);
        expect(Math.abs(expNonPositive(v) / Math.exp(v) - 1)).toBeLessThan(2e-15);
      }
    }
  });
});
