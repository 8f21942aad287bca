import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { matmulFloatRef } from "../test/reference/ternary.js";
import { dequantize, dequantizeRows, matmul, quantize, tensorBytes, type WeightType } from "./index.js";

interface BlockVector {
  type: WeightType;
  k: number;
  bytes: number;
  input: number[];
  packed_hex: string;
  dequantized: number[];
}
interface MatmulVector {
  weight_type: WeightType;
  N: number;
  K: number;
  M: number;
  weights_packed_hex: string;
  activations: number[];
  ggml_output: number[];
  exact_output: number[];
}

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../test/fixtures/ggml/${name}`, import.meta.url), "utf8"));
const blocks: BlockVector[] = fixture("tq_blocks.json").blocks;
const products: MatmulVector[] = fixture("matmul_ternary.json").cases;

describe("ggml conformance (vectors produced by ggml itself)", () => {
  for (const v of blocks) {
    it(`${v.type}: the reference quantizer packs ggml's bytes`, () => {
      const packed = quantize(v.type, Float32Array.from(v.input), 1, v.k);
      expect(packed.data.length).toBe(v.bytes);
      expect(Buffer.from(packed.data).toString("hex")).toBe(v.packed_hex);
    });

    it(`${v.type}: dequantizing ggml's bytes gives ggml's floats`, () => {
      const data = new Uint8Array(Buffer.from(v.packed_hex, "hex"));
      const values = dequantize({ type: v.type, rows: 1, cols: v.k, data });
      expect(Array.from(values)).toEqual(Array.from(Float32Array.from(v.dequantized)));
    });
  }

  for (const c of products) {
    const weight = {
      type: c.weight_type,
      rows: c.N,
      cols: c.K,
      data: new Uint8Array(Buffer.from(c.weights_packed_hex, "hex")),
    };
    const x = Float32Array.from(c.activations);

    it(`${c.weight_type}: float activations match the exact float64 product`, () => {
      const y = matmul(weight, x, c.M, { activations: "float", isa: "scalar" });
      for (let i = 0; i < y.length; i++) {
        const want = c.exact_output[i] ?? Number.NaN;
        expect(Math.abs((y[i] ?? 0) - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      }
    });

    it(`${c.weight_type}: int8 activations land within 1% like ggml's Q8_K path`, () => {
      const y = matmul(weight, x, c.M, { isa: "scalar" });
      const norm = Math.sqrt(c.exact_output.reduce((s, v) => s + v * v, 0) / c.exact_output.length);
      const ggmlErr = Math.max(...c.ggml_output.map((v, i) => Math.abs(v - (c.exact_output[i] ?? 0))));
      const ourErr = Math.max(...Array.from(y, (v, i) => Math.abs(v - (c.exact_output[i] ?? 0))));
      expect(ourErr).toBeLessThan(0.01 * norm * 5);
      expect(ourErr).toBeLessThan(ggmlErr * 3);
    });
  }
});

describe("formats", () => {
  it("dequantizeRows gathers rows exactly as dequantize decodes them, in any order and repeated", () => {
    const random = rng(77);
    const ids = Int32Array.from([5, 0, 5, 11, 3]);
    for (const type of ["F32", "F16", "Q8_0", "TQ2_0", "TQ1_0", "I2_S"] as const) {
      const w = quantize(type, randomFloats(12 * 256, random), 12, 256, { absmean: type === "I2_S" });
      const all = dequantize(w);
      const out = dequantizeRows(w, ids, new Float32Array(ids.length * 256).fill(Number.NaN));
      ids.forEach((id, i) => {
        expect(out.subarray(i * 256, (i + 1) * 256), `${type} row ${id}`).toEqual(
          all.subarray(id * 256, (id + 1) * 256),
        );
      });
    }
    const w = quantize("F16", randomFloats(4 * 32, random), 4, 32);
    expect(() => dequantizeRows(w, Int32Array.from([4]), new Float32Array(32))).toThrow(/ids: row 4 is outside/);
    expect(() => dequantizeRows(w, Int32Array.from([1, 2]), new Float32Array(32))).toThrow(
      /out: expected ids x cols = 64/,
    );
  });

  it("F16 decodes every 16-bit pattern exactly (subnormals, ±0, ±inf, NaN), in vector and tail lanes", () => {
    const half = (bits: number) => {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >> 10) & 0x1f;
      const fraction = bits & 0x3ff;
      if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
      return exponent === 0 ? sign * fraction * 2 ** -24 : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    };
    // 65536 patterns as 4 rows of 16384 and one row of 13 more (past the last full vector)
    for (const [rows, cols, from] of [
      [4, 16384, 0],
      [1, 13, 0x7bf8],
    ] as const) {
      const bits = Uint16Array.from({ length: rows * cols }, (_, i) => (from + i) & 0xffff);
      const data = new Uint8Array(bits.buffer);
      const values = dequantize({ type: "F16", rows, cols, data });
      const viaRows = dequantizeRows(
        { type: "F16", rows, cols, data },
        Int32Array.from({ length: rows }, (_, r) => r),
        new Float32Array(rows * cols),
      );
      for (const got of [values, viaRows]) {
        for (let i = 0; i < bits.length; i++) {
          const want = half(bits[i]!);
          if (Number.isNaN(want)) expect(Number.isNaN(got[i]!), `0x${bits[i]!.toString(16)}`).toBe(true);
          else if (!Object.is(got[i], want)) expect(got[i], `0x${bits[i]!.toString(16)}`).toBe(want);
        }
      }
    }
  });

  it("knows each format's size, I2_S with its trailing scale", () => {
    expect(tensorBytes("F32", 3, 5)).toBe(60);
    expect(tensorBytes("F16", 3, 5)).toBe(30);
    expect(tensorBytes("Q8_0", 2, 64)).toBe(2 * 2 * 34);
    expect(tensorBytes("TQ2_0", 2, 512)).toBe(2 * 2 * 66);
    expect(tensorBytes("TQ1_0", 2, 512)).toBe(2 * 2 * 54);
    expect(tensorBytes("I2_S", 4, 256)).toBe((4 * 256) / 4 + 32);
    expect(tensorBytes("TQ2_0", 1, 100)).toBe(-1);
  });

  const roundTrips: Array<[WeightType, number]> = [
    ["F32", 0],
    ["F16", 1e-3],
    ["Q8_0", 1e-2],
  ];
  for (const [type, tolerance] of roundTrips) {
    it(`${type} round-trips within its precision`, () => {
      const values = randomFloats(7 * 96, rng(1));
      const back = dequantize(quantize(type, values, 7, 96));
      for (let i = 0; i < values.length; i++)
        expect(Math.abs((back[i] ?? 0) - (values[i] ?? 0))).toBeLessThanOrEqual(tolerance);
    });
  }

  for (const type of ["TQ1_0", "TQ2_0", "I2_S"] as const) {
    it(`${type} stores ternary values exactly, one scale (absmean ternarization)`, () => {
      const rows = 6;
      const cols = 512;
      const values = randomFloats(rows * cols, rng(2));
      const weight = quantize(type, values, rows, cols, { absmean: true });
      const back = dequantize(weight);
      const alpha = values.reduce((s, v) => s + Math.abs(v), 0) / values.length;
      const distinct = new Set(Array.from(back, (v) => Math.abs(v)).filter((v) => v !== 0));
      expect(distinct.size).toBe(1);
      // fp16 block scales (TQ*) or an fp32 tensor scale (I2_S) carry alpha
      expect(Math.abs([...distinct][0]! - alpha) / alpha).toBeLessThan(1e-3);
      for (let i = 0; i < values.length; i++) {
        const t = Math.max(-1, Math.min(1, Math.round((values[i] ?? 0) / alpha)));
        expect(Math.sign(back[i] ?? 0)).toBe(Math.sign(t) || 0);
      }
    });
  }

  it("F32 float matmul equals a float64 product closely", () => {
    const random = rng(3);
    const [n, k, m] = [9, 37, 3];
    const w = randomFloats(n * k, random);
    const x = randomFloats(m * k, random);
    const y = matmul(quantize("F32", w, n, k), x, m);
    const want = matmulFloatRef(w, n, k, x, m);
    for (let i = 0; i < y.length; i++) expect(Math.abs((y[i] ?? 0) - (want[i] ?? 0))).toBeLessThan(1e-5);
  });
});
