import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { argmax, Candidates, nucleusCut, topKInto } from "./select.js";

/** ids sorted by key descending, ties to the lower id: the order every selection must agree with */
function order(key: Float64Array): number[] {
  return Array.from(key.keys()).sort((a, b) => key[b]! - key[a]! || a - b);
}

// integers produce many ties, doubles many distinct values; both orders must come out the same
const keys = fc
  .array(fc.oneof(fc.integer({ min: -4, max: 4 }), fc.double({ min: -30, max: 30, noNaN: true })), {
    minLength: 1,
    maxLength: 300,
  })
  .map((a) => Float64Array.from(a));

describe("argmax", () => {
  it("returns the lowest index among equal maxima", () => {
    expect(argmax(Float64Array.from([1, 3, 3, 2]), 4)).toBe(1);
    expect(argmax(Float64Array.from([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]), 2)).toBe(0);
  });
});

describe("topKInto", () => {
  it("selects exactly the k first ids in order, for heap-sized and quickselect-sized k", () => {
    fc.assert(
      fc.property(keys, fc.nat(), (key, kSeed) => {
        const k = 1 + (kSeed % key.length);
        const c = new Candidates(key.length);
        topKInto(key, key.length, k, c);
        expect(c.count).toBe(k);
        const got = Array.from(c.ids.subarray(0, k)).sort((a, b) => a - b);
        const want = order(key)
          .slice(0, k)
          .sort((a, b) => a - b);
        expect(got).toEqual(want);
        for (let j = 0; j < k; j++) expect(c.keys[j]).toBe(key[c.ids[j]!]);
      }),
      { numRuns: 300 },
    );
  });

  it("uses quickselect above the heap limit and still agrees with a full sort", () => {
    const n = 6000;
    const key = new Float64Array(n);
    for (let i = 0; i < n; i++) key[i] = Math.round(Math.sin(i * 12.9898) * 43758.5453) % 50;
    const c = new Candidates(n);
    topKInto(key, n, 2500, c);
    const got = Array.from(c.ids.subarray(0, 2500)).sort((a, b) => a - b);
    expect(got).toEqual(
      order(key)
        .slice(0, 2500)
        .sort((a, b) => a - b),
    );
  });
});

describe("nucleusCut", () => {
  it("returns the smallest prefix in order whose weight reaches the target", () => {
    fc.assert(
      fc.property(keys, fc.double({ min: 0.01, max: 1, noNaN: true }), (key, p) => {
        const n = key.length;
        const c = new Candidates(n);
        let total = 0;
        for (let i = 0; i < n; i++) {
          c.ids[i] = i;
          c.keys[i] = key[i]!;
          c.weights[i] = Math.exp(key[i]! / 10);
          total += c.weights[i]!;
        }
        // shuffle so the input order carries no information
        for (let i = n - 1; i > 0; i--) {
          const j = (i * 7919) % (i + 1);
          for (const arr of [c.ids, c.keys, c.weights]) [arr[i], arr[j]] = [arr[j]!, arr[i]!];
        }
        c.count = n;
        const target = p * total;
        const m = nucleusCut(c, target);

        const sorted = order(key);
        let acc = 0;
        let want = n;
        for (let j = 0; j < n; j++) {
          acc += Math.exp(key[sorted[j]!]! / 10);
          if (acc >= target) {
            want = j + 1;
            break;
          }
        }
        // summation order differs, so a target sitting within rounding of a boundary may move it by one
        expect(Math.abs(m - want)).toBeLessThanOrEqual(1);
        const got = Array.from(c.ids.subarray(0, m)).sort((a, b) => a - b);
        expect(got).toEqual(sorted.slice(0, m).sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });
});
