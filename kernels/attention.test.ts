import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { attention, hardware } from "./index.js";

/** float64 causal GQA attention, written out plainly. */
function attentionRef(
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  rows: number,
  start: number,
  heads: number,
  kvHeads: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(rows * heads * dim);
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      const scores: number[] = [];
      for (let t = 0; t <= start + r; t++) {
        let dot = 0;
        for (let d = 0; d < dim; d++)
          dot += (q[(r * heads + h) * dim + d] ?? 0) * (keys[(t * kvHeads + g) * dim + d] ?? 0);
        scores.push(dot / Math.sqrt(dim));
      }
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const total = e.reduce((a, b) => a + b, 0);
      for (const [t, w] of e.entries()) {
        for (let d = 0; d < dim; d++) {
          const at = (r * heads + h) * dim + d;
          out[at] = (out[at] ?? 0) + (w / total) * (values[(t * kvHeads + g) * dim + d] ?? 0);
        }
      }
    }
  return out;
}

describe.each(hardware().available)("attention on the %s path", (isa) => {
  it("matches float64 attention for prefill and decode shapes, with and without GQA", () => {
    const random = rng(5);
    for (const [rows, start, heads, kvHeads, dim] of [
      [1, 0, 4, 2, 64],
      [7, 0, 4, 4, 32],
      [1, 90, 20, 5, 128],
      [5, 12, 8, 2, 100],
    ] as const) {
      const q = randomFloats(rows * heads * dim, random, 2);
      const keys = randomFloats((start + rows + 3) * kvHeads * dim, random, 2);
      const values = randomFloats((start + rows + 3) * kvHeads * dim, random);
      const out = new Float32Array(rows * heads * dim);
      attention(q, keys, values, rows, start, { heads, kvHeads, headDim: dim }, out, { isa });
      const want = attentionRef(q, keys, values, rows, start, heads, kvHeads, dim);
      for (let i = 0; i < want.length; i++) expect(Math.abs((out[i] ?? 0) - (want[i] ?? 0))).toBeLessThan(1e-5);
    }
  });
});

describe("attention arguments", () => {
  const shape = { heads: 4, kvHeads: 2, headDim: 8 };
  const q = new Float32Array(2 * 4 * 8);
  const kv = new Float32Array(10 * 2 * 8);
  const out = new Float32Array(2 * 4 * 8);
  it("names what is wrong instead of reading past a buffer", () => {
    expect(() => attention(q, kv, kv, 2, 9, shape, out)).toThrow(/keys: expected at least 176 floats, got 160/);
    expect(() => attention(q.subarray(1), kv, kv, 2, 0, shape, out)).toThrow(/q: expected rows x heads x headDim/);
    expect(() => attention(q, kv, kv, 2, 0, { ...shape, kvHeads: 3 }, out)).toThrow(
      /kvHeads: 4 query heads cannot share 3/,
    );
    expect(() => attention(q, kv, kv, 2, 0, shape, out.subarray(2))).toThrow(/out: expected 64 floats/);
  });
});
