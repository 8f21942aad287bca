import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { attention, attentionBatch, hardware, setThreads } from "./index.js";

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

interface Case {
  readonly heads: number;
  readonly kvHeads: number;
  readonly dim: number;
  /** [rows, start] per sequence */
  readonly seqs: ReadonlyArray<readonly [number, number]>;
}

/**
 * Odd head dims (masked tails), group sizes 1 (MHA) to 5 (more heads than a register block holds),
 * contexts either side of a 16-position block, prefill rows beside decode rows.
 */
const CASES: readonly Case[] = [
  { heads: 4, kvHeads: 2, dim: 64, seqs: [[1, 0]] },
  { heads: 4, kvHeads: 4, dim: 32, seqs: [[7, 0]] },
  { heads: 20, kvHeads: 5, dim: 128, seqs: [[1, 90]] },
  { heads: 8, kvHeads: 2, dim: 100, seqs: [[5, 12]] },
  {
    heads: 9,
    kvHeads: 3,
    dim: 33,
    seqs: [
      [1, 15],
      [3, 14],
      [1, 31],
      [2, 0],
    ],
  },
  {
    heads: 10,
    kvHeads: 2,
    dim: 7,
    seqs: [
      [1, 16],
      [17, 0],
      [1, 47],
    ],
  },
  {
    heads: 6,
    kvHeads: 6,
    dim: 24,
    seqs: [
      [4, 9],
      [1, 63],
      [1, 1],
    ],
  },
  {
    heads: 8,
    kvHeads: 4,
    dim: 32,
    seqs: [
      [1, 84],
      [1, 100],
      [1, 120],
      [1, 147],
      [2, 30],
    ],
  },
];

/** A batch for a case: stacked queries and one cache per sequence, exactly as long as it needs. */
function makeBatch(c: Case, seed: number) {
  const random = rng(seed);
  const width = c.heads * c.dim;
  let first = 0;
  const sequences = c.seqs.map(([rows, start]) => {
    const positions = start + rows;
    const seq = {
      keys: randomFloats(positions * c.kvHeads * c.dim, random, 2),
      values: randomFloats(positions * c.kvHeads * c.dim, random),
      first,
      rows,
      start,
    };
    first += rows;
    return seq;
  });
  return { q: randomFloats(first * width, random, 2), sequences, rows: first, width };
}

const shapeOf = (c: Case) => ({ heads: c.heads, kvHeads: c.kvHeads, headDim: c.dim });

describe.each(hardware().available)("attention on the %s path", (isa) => {
  it("matches float64 attention for prefill and decode shapes, with and without GQA", () => {
    for (const [i, c] of CASES.entries()) {
      const { q, sequences, rows, width } = makeBatch(c, 5 + i);
      const out = attentionBatch(q, sequences, shapeOf(c), new Float32Array(rows * width), { isa });
      for (const s of sequences) {
        const want = attentionRef(
          q.subarray(s.first * width, (s.first + s.rows) * width),
          s.keys,
          s.values,
          s.rows,
          s.start,
          c.heads,
          c.kvHeads,
          c.dim,
        );
        const got = out.subarray(s.first * width, (s.first + s.rows) * width);
        for (let j = 0; j < want.length; j++) expect(Math.abs((got[j] ?? 0) - (want[j] ?? 0))).toBeLessThan(1e-5);
      }
    }
  });

  it("agrees with the plain C reference (the scalar path) to float rounding", () => {
    for (const [i, c] of CASES.entries()) {
      const { q, sequences, rows, width } = makeBatch(c, 50 + i);
      const got = attentionBatch(q, sequences, shapeOf(c), new Float32Array(rows * width), { isa });
      const ref = attentionBatch(q, sequences, shapeOf(c), new Float32Array(rows * width), { isa: "scalar" });
      for (let j = 0; j < ref.length; j++) expect(Math.abs((got[j] ?? 0) - (ref[j] ?? 0))).toBeLessThan(2e-6);
    }
  });

  it("gives every sequence of a batch exactly its result alone, at 1 and 2 threads", () => {
    const threads = hardware().threads;
    try {
      for (const [i, c] of CASES.entries()) {
        const { q, sequences, rows, width } = makeBatch(c, 500 + i);
        const alone = sequences.map((s) =>
          attention(
            q.slice(s.first * width, (s.first + s.rows) * width),
            s.keys,
            s.values,
            s.rows,
            s.start,
            shapeOf(c),
            new Float32Array(s.rows * width),
            { isa },
          ),
        );
        for (const n of [1, 2]) {
          setThreads(n);
          // the batch in reverse order, so each sequence sits elsewhere among the tasks
          const out = new Float32Array(rows * width).fill(Number.NaN);
          attentionBatch(q, [...sequences].reverse(), shapeOf(c), out, { isa });
          for (const [k, s] of sequences.entries())
            expect(out.subarray(s.first * width, (s.first + s.rows) * width)).toEqual(alone[k]);
        }
      }
    } finally {
      setThreads(threads);
    }
  });
});

describe("attention arguments", () => {
  const shape = { heads: 4, kvHeads: 2, headDim: 8 };
  const q = new Float32Array(2 * 4 * 8);
  const kv = new Float32Array(10 * 2 * 8);
  const out = new Float32Array(2 * 4 * 8);
  it("names what is wrong instead of reading past a buffer", () => {
    expect(() => attention(q, kv, kv, 2, 9, shape, out)).toThrow(/keys\[0\]: expected at least 176 floats, got 160/);
    expect(() => attention(q.subarray(1), kv, kv, 2, 0, shape, out)).toThrow(/q: expected rows x heads x headDim/);
    expect(() => attention(q, kv, kv, 2, 0, { ...shape, kvHeads: 3 }, out)).toThrow(
      /kvHeads: 4 query heads cannot share 3/,
    );
    expect(() => attention(q, kv, kv, 2, 0, shape, out.subarray(2))).toThrow(/out: expected 64 floats/);
    const seq = { keys: kv, values: kv, first: 0, rows: 2, start: 0 };
    expect(() => attentionBatch(q, [seq, { ...seq, first: 1 }], shape, out)).toThrow(/spans\[1\]: rows 1\.\. of/);
    expect(() => attentionBatch(q, [seq, { ...seq, values: kv.subarray(8), start: 8 }], shape, out)).toThrow(
      /values\[1\]: expected at least 160 floats, got 152/,
    );
    expect(() => attentionBatch(q, [], shape, out)).toThrow(/keys: expected an array of 1\.\.4096/);
  });
});
