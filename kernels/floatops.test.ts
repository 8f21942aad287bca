/**
 * The native float steps (floatops.c) against a plain TS transcription of the same arithmetic,
 * bit for bit: the C defines the summation order, and this file is its readable reference.
 */
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { floatOps } from "./index.js";

const LANES = 16;

/** RMSNorm as floatops.c computes it: 16 interleaved double partial sums, folded pairwise. */
function referenceRmsNorm(x: Float32Array, weight: Float32Array, rows: number, eps: number): Float32Array {
  const n = weight.length;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const lane = new Float64Array(LANES);
    for (let i = 0; i < n; i++) {
      const v = x[r * n + i] as number;
      lane[i % LANES] = (lane[i % LANES] as number) + v * v;
    }
    for (let width = LANES / 2; width >= 1; width /= 2)
      for (let j = 0; j < width; j++) lane[j] = (lane[j] as number) + (lane[j + width] as number);
    const inv = 1 / Math.sqrt((lane[0] as number) / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = (x[r * n + i] as number) * inv * (weight[i] as number);
  }
  return out;
}

describe("floatOps.rmsNorm", () => {
  for (const n of [1, 7, 16, 100, 2560, 6913]) {
    it(`matches the reference bit for bit (n = ${n}, 3 rows)`, () => {
      const random = rng(n);
      const x = randomFloats(3 * n, random, 4);
      const weight = randomFloats(n, random, 1.5);
      const out = new Float32Array(3 * n);
      floatOps.rmsNorm(x, weight, 3, 1e-5, out);
      expect(out).toEqual(referenceRmsNorm(x, weight, 3, 1e-5));
    });
  }

  it("is a normalisation: unit weight gives rows of mean square ~1", () => {
    const x = randomFloats(2560, rng(3), 30);
    const out = new Float32Array(2560);
    floatOps.rmsNorm(x, new Float32Array(2560).fill(1), 1, 0, out);
    const meanSquare = out.reduce((s, v) => s + v * v, 0) / out.length;
    expect(meanSquare).toBeCloseTo(1, 5);
  });

  it("works in place", () => {
    const x = randomFloats(2 * 64, rng(4), 2);
    const weight = randomFloats(64, rng(5), 1);
    const expected = referenceRmsNorm(x, weight, 2, 1e-6);
    floatOps.rmsNorm(x, weight, 2, 1e-6, x);
    expect(x).toEqual(expected);
  });

  it("refuses arrays too short for rows x weight.length, naming them", () => {
    const weight = new Float32Array(8);
    expect(() => floatOps.rmsNorm(new Float32Array(15), weight, 2, 1e-5, new Float32Array(16))).toThrow(/^x: /);
    expect(() => floatOps.rmsNorm(new Float32Array(16), weight, 2, 1e-5, new Float32Array(8))).toThrow(/^out: /);
    expect(() => floatOps.rmsNorm(new Float32Array(16), weight, 2, Number.NaN, new Float32Array(16))).toThrow(/^eps: /);
    expect(() => floatOps.rmsNorm(new Float32Array(16), new Float32Array(0), 2, 1e-5, new Float32Array(16))).toThrow(
      /^weight: /,
    );
  });
});

describe("floatOps.gatedActivation", () => {
  const gate = Float32Array.from([-2, -0.5, 0, 0.25, 1, 3.5, -1e-3, 7]);
  const up = Float32Array.from([1, 2, 3, -4, 5, 0.5, 9, -1]);

  it("relu2: relu(g)² · u, rounded to float once", () => {
    const out = floatOps.gatedActivation("relu2", gate, up, new Float32Array(gate.length));
    expect(Array.from(out)).toEqual(Array.from(gate, (g, i) => Math.fround(g > 0 ? g * g * (up[i] as number) : 0)));
  });

  it("silu: g / (1 + e^-g) · u, within an ulp of the JS formula (libm's exp)", () => {
    const out = floatOps.gatedActivation("silu", gate, up, new Float32Array(gate.length));
    gate.forEach((g, i) => {
      const expected = (g / (1 + Math.exp(-g))) * (up[i] as number);
      expect(Math.abs((out[i] as number) - expected)).toBeLessThanOrEqual(Math.abs(expected) * 2 ** -23 + 1e-45);
    });
  });

  it("works in place and refuses mismatched lengths", () => {
    const g = Float32Array.from(gate);
    floatOps.gatedActivation("relu2", g, up, g);
    expect(g[5]).toBe(Math.fround(3.5 * 3.5 * 0.5));
    expect(() => floatOps.gatedActivation("relu2", gate, new Float32Array(3), new Float32Array(8))).toThrow(/^up: /);
  });
});

describe("floatOps.addInPlace and scaleInPlace", () => {
  it("are float adds and products", () => {
    const x = randomFloats(1000, rng(9), 10);
    const d = randomFloats(1000, rng(10), 10);
    const sum = x.map((v, i) => Math.fround(v + (d[i] as number)));
    floatOps.addInPlace(x, d);
    expect(x).toEqual(sum);
    const scaled = x.map((v) => Math.fround(v * 0.123456789));
    floatOps.scaleInPlace(x, 0.123456789);
    expect(x).toEqual(scaled);
    expect(() => floatOps.addInPlace(x, new Float32Array(3))).toThrow(/^delta: /);
    expect(() => floatOps.scaleInPlace(x, Number.POSITIVE_INFINITY)).toThrow(/^scale: /);
  });
});

describe("floatOps.rope", () => {
  /** NeoX RoPE as the forward pass ran it in JS: double products of the float inputs, rounded once. */
  function referenceRope(
    x: Float32Array,
    rows: number,
    heads: number,
    dim: number,
    angles: Float64Array,
  ): Float32Array {
    const out = x.slice();
    const half = angles.length / (2 * rows);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < half; i++) {
        const cos = angles[(r * half + i) * 2] as number;
        const sin = angles[(r * half + i) * 2 + 1] as number;
        for (let h = 0; h < heads; h++) {
          const at = (r * heads + h) * dim + i;
          const a = x[at] as number;
          const b = x[at + half] as number;
          out[at] = a * cos - b * sin;
          out[at + half] = a * sin + b * cos;
        }
      }
    return out;
  }

  it("matches the JS rotation bit for bit, leaving dims past ropeDim alone", () => {
    const random = rng(11);
    for (const [rows, heads, dim, ropeDim] of [
      [1, 4, 32, 32],
      [5, 3, 24, 16],
      [9, 20, 128, 128],
    ] as const) {
      const x = randomFloats(rows * heads * dim, random, 3);
      const angles = Float64Array.from({ length: rows * ropeDim }, (_, j) =>
        j % 2 === 0 ? Math.cos(j * 0.37 + 1) : Math.sin((j - 1) * 0.37 + 1),
      );
      const want = referenceRope(x, rows, heads, dim, angles);
      expect(floatOps.rope(x, rows, heads, dim, angles)).toEqual(want);
    }
  });

  it("refuses angles that do not fit the rows and head size", () => {
    const x = new Float32Array(2 * 4 * 8);
    expect(() => floatOps.rope(x, 2, 4, 8, new Float64Array(2 * 10))).toThrow(/^angles: /);
    expect(() => floatOps.rope(x, 2, 4, 8, new Float64Array(7))).toThrow(/^angles: /);
    expect(() => floatOps.rope(x, 3, 4, 8, new Float64Array(3 * 8))).toThrow(/^x: /);
  });
});
