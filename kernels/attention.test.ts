import { describe, expect, it } from "vitest";
import { numberToHalfBits as halfBits, halfBitsToNumber as halfValue } from "../src/util/half.js";
import { randomFloats, rng } from "../test/helpers/random.js";
import {
  type AttentionCache,
  type AttentionShape,
  attentionBatch,
  attentionCache,
  hardware,
  type Isa,
  type KvCacheType,
  kvBytesPerPosition,
  setThreads,
} from "./index.js";

/** Every value rounded to its nearest half (src/util/half.ts: plain arithmetic, no code shared with the kernels). */
const roundedToHalf = (x: Float32Array): Float32Array => x.map((v) => halfValue(halfBits(v)));

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
  // key blocks in scores passes of up to eight, split evenly: 8 blocks in one, 9 in 5 + 4, 19 in 7 + 6 + 6
  {
    heads: 4,
    kvHeads: 2,
    dim: 64,
    seqs: [
      [1, 127],
      [1, 143],
      [1, 300],
    ],
  },
];

/**
 * A cache holding positions 0..start-1 of row-major keys and values ([position][kvHeads x headDim]),
 * written the only way a cache is written: by an attention call over those rows (its output unused).
 */
function cacheWith(
  keys: Float32Array,
  values: Float32Array,
  start: number,
  shape: AttentionShape,
  cache: AttentionCache,
  isa?: Isa,
): AttentionCache {
  if (start > 0) {
    const kv = shape.kvHeads * shape.headDim;
    const q = new Float32Array(start * shape.heads * shape.headDim);
    const sequence = { cache, first: 0, rows: start, start: 0 };
    attentionBatch(q, keys.subarray(0, start * kv), values.subarray(0, start * kv), [sequence], shape, q.slice(), {
      isa,
    });
  }
  return cache;
}

/**
 * A batch for a case: stacked queries, keys and values of the step's rows, and per sequence its
 * row-major history (for the references) and a cache holding the positions before the step.
 */
function makeBatch(c: Case, seed: number, type: KvCacheType = "f32") {
  const random = rng(seed);
  const width = c.heads * c.dim;
  const kvWidth = c.kvHeads * c.dim;
  const shape = shapeOf(c);
  let first = 0;
  const sequences = c.seqs.map(([rows, start]) => {
    const positions = start + rows;
    const keys = randomFloats(positions * kvWidth, random, 2);
    const values = randomFloats(positions * kvWidth, random);
    const seq = {
      keys,
      values,
      // what the cache holds, for the float64 reference: an fp16 cache keeps each value's nearest half
      stored: type === "f16" ? { keys: roundedToHalf(keys), values: roundedToHalf(values) } : { keys, values },
      cache: cacheWith(keys, values, start, shape, attentionCache(positions, shape, type)),
      first,
      rows,
      start,
    };
    first += rows;
    return seq;
  });
  const k = new Float32Array(first * kvWidth);
  const v = new Float32Array(first * kvWidth);
  for (const s of sequences) {
    k.set(s.keys.subarray(s.start * kvWidth), s.first * kvWidth);
    v.set(s.values.subarray(s.start * kvWidth), s.first * kvWidth);
  }
  return { q: randomFloats(first * width, random, 2), k, v, sequences, rows: first, width, kvWidth };
}

function shapeOf(c: Case): AttentionShape {
  return { heads: c.heads, kvHeads: c.kvHeads, headDim: c.dim };
}

const PATHS = hardware().available.flatMap((isa) => (["f32", "f16"] as const).map((type) => [isa, type] as const));

describe.each(PATHS)("attention on the %s path, %s cache", (isa, type) => {
  it("matches float64 attention for prefill and decode shapes, with and without GQA", () => {
    for (const [i, c] of CASES.entries()) {
      const { q, k, v, sequences, rows, width } = makeBatch(c, 5 + i, type);
      const out = attentionBatch(q, k, v, sequences, shapeOf(c), new Float32Array(rows * width), { isa });
      for (const s of sequences) {
        const want = attentionRef(
          q.subarray(s.first * width, (s.first + s.rows) * width),
          s.stored.keys,
          s.stored.values,
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
      const { q, k, v, sequences, rows, width } = makeBatch(c, 50 + i, type);
      const got = attentionBatch(q, k, v, sequences, shapeOf(c), new Float32Array(rows * width), { isa });
      const ref = attentionBatch(q, k, v, sequences, shapeOf(c), new Float32Array(rows * width), { isa: "scalar" });
      for (let j = 0; j < ref.length; j++) expect(Math.abs((got[j] ?? 0) - (ref[j] ?? 0))).toBeLessThan(2e-6);
    }
  });

  it("gives every sequence of a batch exactly its result alone, at 1 and 2 threads", () => {
    const threads = hardware().threads;
    try {
      for (const [i, c] of CASES.entries()) {
        const { q, k, v, sequences, rows, width, kvWidth } = makeBatch(c, 500 + i, type);
        const alone = sequences.map((s) =>
          attentionBatch(
            q.slice(s.first * width, (s.first + s.rows) * width),
            k.slice(s.first * kvWidth, (s.first + s.rows) * kvWidth),
            v.slice(s.first * kvWidth, (s.first + s.rows) * kvWidth),
            [{ cache: s.cache, first: 0, rows: s.rows, start: s.start }],
            shapeOf(c),
            new Float32Array(s.rows * width),
            { isa },
          ),
        );
        for (const n of [1, 2]) {
          setThreads(n);
          // the batch in reverse order, so each sequence sits elsewhere among the tasks
          const out = new Float32Array(rows * width).fill(Number.NaN);
          attentionBatch(q, k, v, [...sequences].reverse(), shapeOf(c), out, { isa });
          for (const [k, s] of sequences.entries())
            expect(out.subarray(s.first * width, (s.first + s.rows) * width)).toEqual(alone[k]);
        }
      }
    } finally {
      setThreads(threads);
    }
  });

  it("stores each step's keys and values where later steps read them: a prefill is its rows decoded one by one", () => {
    const c: Case = { heads: 8, kvHeads: 4, dim: 32, seqs: [[37, 0]] };
    const shape = shapeOf(c);
    const { q, k, v, sequences, width, kvWidth } = makeBatch(c, 900, type);
    const n = sequences[0]?.rows ?? 0;
    const prefill = attentionBatch(
      q,
      k,
      v,
      [{ cache: attentionCache(40, shape, type), first: 0, rows: n, start: 0 }],
      shape,
      new Float32Array(n * width),
      { isa },
    );
    const cache = attentionCache(40, shape, type);
    for (let t = 0; t < n; t++) {
      const one = attentionBatch(
        q.slice(t * width, (t + 1) * width),
        k.slice(t * kvWidth, (t + 1) * kvWidth),
        v.slice(t * kvWidth, (t + 1) * kvWidth),
        [{ cache, first: 0, rows: 1, start: t }],
        shape,
        new Float32Array(width),
        { isa },
      );
      expect(one).toEqual(prefill.subarray(t * width, (t + 1) * width));
    }
  });

  it("reads nothing of a cache past the visible positions (a reused cache's stale slots, even NaN)", () => {
    for (const [i, c] of CASES.entries()) {
      const { q, k, v, sequences, rows, width } = makeBatch(c, 700 + i, type);
      const clean = attentionBatch(q, k, v, sequences, shapeOf(c), new Float32Array(rows * width), { isa });
      const stale = sequences.map((s) => {
        const cache = attentionCache(s.start + s.rows + 20, shapeOf(c), type);
        for (const plane of [cache.keys, cache.values]) {
          if (plane instanceof Float32Array) plane.fill(Number.NaN);
          else plane.fill(halfBits(Number.NaN));
        }
        return { ...s, cache: cacheWith(s.keys, s.values, s.start, shapeOf(c), cache, isa) };
      });
      const got = attentionBatch(q, k, v, stale, shapeOf(c), new Float32Array(rows * width), { isa });
      expect(got).toEqual(clean);
    }
  });
});

describe.each(hardware().available)("an fp16 cache on the %s path", (isa) => {
  it("stores each key and value as its nearest half (ties to even, subnormals, overflow to infinity)", () => {
    const shape = { heads: 1, kvHeads: 1, headDim: 16 };
    // halfway cases round to the even neighbour: 1 + 2^-11 down to 1, 1 + 3 * 2^-11 up to 1 + 2^-9
    const row = Float32Array.of(
      1,
      -2.5,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      65504,
      65519,
      65520,
      -1e6,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -25,
      6.1e-5,
      -0,
      0.1,
      Math.PI,
      -1234.5678,
    );
    const cache = attentionCache(16, shape, "f16");
    // a second position, so the stored keys of position 1 sit one lane over in the transposed block
    const rows = new Float32Array(32);
    rows.set(row, 16);
    attentionBatch(
      new Float32Array(32),
      rows,
      rows,
      [{ cache, first: 0, rows: 2, start: 0 }],
      shape,
      new Float32Array(32),
      {
        isa,
      },
    );
    const want = Array.from(row, (x) => halfBits(x));
    expect(Array.from({ length: 16 }, (_, d) => cache.keys[d * 16 + 1])).toEqual(want);
    expect(Array.from(cache.values.subarray(16, 32))).toEqual(want);
    expect(want.slice(2, 8)).toEqual([0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7c00, 0xfc00]);
  });

  it("rounds every float as the plain-arithmetic binary16 does, across the whole range, in the vector lanes and the tail", () => {
    // a head dim of 45: five full lanes of eight and a tail of five, per KV head of a row
    const shape = { heads: 2, kvHeads: 2, headDim: 45 };
    const random = rng(31);
    const rows = 40;
    const width = shape.kvHeads * shape.headDim;
    // magnitudes 2^-30 .. 2^17: zeros, subnormal halves, every normal binade, overflow; exact ties on a tenth
    const k = new Float32Array(rows * width).map(() => {
      const x = (random() < 0.5 ? -1 : 1) * 2 ** (random() * 47 - 30);
      return random() < 0.1 ? halfValue(halfBits(x)) + 2 ** (Math.floor(Math.log2(Math.abs(x))) - 11) : x;
    });
    const v = k.map((x) => -x / 3);
    const cache = attentionCache(rows, shape, "f16");
    const q = new Float32Array(rows * shape.heads * shape.headDim);
    attentionBatch(q, k, v, [{ cache, first: 0, rows, start: 0 }], shape, q.slice(), { isa });
    const keyAt = (t: number, h: number, d: number) =>
      cache.keys[h * cache.positions * shape.headDim + (Math.floor(t / 16) * shape.headDim + d) * 16 + (t % 16)];
    const valueAt = (t: number, h: number, d: number) => cache.values[(h * cache.positions + t) * shape.headDim + d];
    let mismatches = 0;
    for (let t = 0; t < rows; t++)
      for (let h = 0; h < shape.kvHeads; h++)
        for (let d = 0; d < shape.headDim; d++) {
          const at = t * width + h * shape.headDim + d;
          if (keyAt(t, h, d) !== halfBits(k[at] ?? 0)) mismatches++;
          if (valueAt(t, h, d) !== halfBits(v[at] ?? 0)) mismatches++;
        }
    expect(mismatches).toBe(0);
  });

  it("stays near the fp32 cache's result at half the bytes", () => {
    const c = CASES[7] as Case;
    const shape = shapeOf(c);
    const wide = makeBatch(c, 77, "f32");
    const half = makeBatch(c, 77, "f16");
    const a = attentionBatch(wide.q, wide.k, wide.v, wide.sequences, shape, new Float32Array(wide.rows * wide.width), {
      isa,
    });
    const b = attentionBatch(half.q, half.k, half.v, half.sequences, shape, new Float32Array(half.rows * half.width), {
      isa,
    });
    let worst = 0;
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs((a[j] ?? 0) - (b[j] ?? 0)));
    // a half keeps 11 significant bits: inputs of size ~1 move by up to 2^-12, and so does their mean
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(5e-3);
    expect(half.sequences[0]?.cache.keys.byteLength).toBe((wide.sequences[0]?.cache.keys.byteLength ?? 0) / 2);
    expect(kvBytesPerPosition(shape, "f16")).toBe(kvBytesPerPosition(shape, "f32") / 2);
    expect(halfValue(halfBits(1 / 3))).toBeCloseTo(1 / 3, 3);
  });
});

describe("attention arguments", () => {
  const shape = { heads: 4, kvHeads: 2, headDim: 8 };
  const q = new Float32Array(2 * 4 * 8);
  const kv = new Float32Array(2 * 2 * 8);
  const out = new Float32Array(2 * 4 * 8);
  const cache = attentionCache(10, shape);
  const seq = { cache, first: 0, rows: 2, start: 0 };
  it("names what is wrong instead of reading or writing past a buffer", () => {
    expect(cache.positions).toBe(16);
    expect(() => attentionBatch(q, kv, kv, [{ ...seq, start: 15 }], shape, out)).toThrow(
      /spans\[0\]: positions 16 must be a multiple of 16 and hold start \+ rows = 17/,
    );
    expect(() => attentionBatch(q, kv, kv, [{ ...seq, cache: { ...cache, positions: 12 } }], shape, out)).toThrow(
      /spans\[0\]: positions 12 must be a multiple of 16/,
    );
    expect(() => attentionBatch(q.subarray(1), kv, kv, [seq], shape, out)).toThrow(
      /q: expected rows x heads x headDim/,
    );
    expect(() => attentionBatch(q, kv.subarray(1), kv, [seq], shape, out)).toThrow(/k: expected 32 floats/);
    expect(() => attentionBatch(q, kv, kv.subarray(1), [seq], shape, out)).toThrow(/v: expected 32 floats/);
    expect(() => attentionBatch(q, kv, kv, [seq], { ...shape, kvHeads: 3 }, out)).toThrow(
      /kvHeads: 4 query heads cannot share 3/,
    );
    expect(() => attentionBatch(q, kv, kv, [seq], shape, out.subarray(2))).toThrow(/out: expected 64 floats/);
    expect(() => attentionBatch(q, kv, kv, [seq, { ...seq, first: 1 }], shape, out)).toThrow(
      /spans\[1\]: rows 1\.\. of the batch/,
    );
    const other = attentionCache(10, shape);
    expect(() =>
      attentionBatch(
        q,
        kv,
        kv,
        [
          { ...seq, rows: 1 },
          { ...seq, cache: other },
        ],
        shape,
        out,
      ),
    ).toThrow(/spans\[1\]: rows 0\.\. overlap spans\[0\]/);
    expect(() =>
      attentionBatch(
        q,
        kv,
        kv,
        [
          { ...seq, rows: 1 },
          { ...seq, first: 1, rows: 1, cache: { ...other, values: other.values.subarray(8) } },
        ],
        shape,
        out,
      ),
    ).toThrow(/values\[1\]: expected 256 elements/);
    const half = attentionCache(10, shape, "f16");
    expect(() =>
      attentionBatch(
        q,
        kv,
        kv,
        [
          { ...seq, rows: 1 },
          { ...seq, first: 1, rows: 1, cache: half },
        ],
        shape,
        out,
      ),
    ).toThrow(/keys\[1\]: expected a Float32Array \(as keys\[0\]\)/);
    expect(() =>
      attentionBatch(
        q,
        kv,
        kv,
        [{ ...seq, cache: { ...half, keys: new Int16Array(256) as unknown as Uint16Array } }],
        shape,
        out,
      ),
    ).toThrow(/keys\[0\]: expected a Float32Array \(fp32 cache\) or Uint16Array/);
    expect(() => attentionBatch(q, kv, kv, [], shape, out)).toThrow(/keys: expected an array of 1\.\.4096/);
  });
});
