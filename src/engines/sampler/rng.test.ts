import { describe, expect, it } from "vitest";
import { Rng, randomSeed } from "./rng.js";

function take(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe("Rng", () => {
  it("repeats its sequence for the same seed", () => {
    expect(take(new Rng(42), 50)).toEqual(take(new Rng(42), 50));
  });

  it("gives different sequences for neighbouring seeds, including seeds that differ only above 2^32", () => {
    const seeds = [0, 1, 2, -1, 2 ** 32, 2 ** 32 + 1, 2 ** 52, Number.MAX_SAFE_INTEGER];
    const firsts = seeds.map((s) => take(new Rng(s), 4).join(","));
    expect(new Set(firsts).size).toBe(seeds.length);
  });

  it("produces floats in [0, 1) with a roughly uniform spread", () => {
    const rng = new Rng(7);
    const bins = new Array<number>(10).fill(0);
    const n = 100_000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.nextFloat();
      if (!(u >= 0 && u < 1)) outside++;
      else bins[Math.floor(u * 10)]! += 1;
    }
    expect(outside).toBe(0);
    // chi-square with 9 degrees of freedom; 27.9 is the 0.001 critical value
    const expected = n / 10;
    const chi2 = bins.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it("outputs unsigned 32-bit integers", () => {
    for (const v of take(new Rng(3), 1000)) {
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    }
  });
});

describe("randomSeed", () => {
  it("returns distinct safe integers", () => {
    const seeds = Array.from({ length: 20 }, randomSeed);
    for (const s of seeds) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
    expect(new Set(seeds).size).toBe(20);
  });
});
