/**
 * `activations: "q8_0"`: Q8_0 weights times activations quantized per 32 values, as llama.cpp
 * multiplies a Q8_0 head. The scalar path is checked bit for bit against a TypeScript reading of
 * the contract in tg.h (integer block sums, then the float terms in block order); every SIMD path
 * against the scalar one within float rounding, since each sums the blocks in its own order.
 */
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { dequantize, hardware, matmul, type PackedWeight, quantize } from "./index.js";

const f32 = Math.fround;

/** The contract's activation quantization: d = amax / 127, q = round half away from zero of x * 127 / amax. */
function quantizeQ8Ref(x: Float32Array): { q: Int8Array; d: Float32Array } {
  const q = new Int8Array(x.length);
  const d = new Float32Array(x.length / 32);
  for (let b = 0; b < d.length; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j] ?? 0));
    d[b] = f32(amax / 127);
    const inv = amax > 0 ? f32(127 / amax) : 0;
    for (let j = 0; j < 32; j++) {
      const v = f32((x[32 * b + j] ?? 0) * inv);
      q[32 * b + j] = Math.sign(v) * Math.round(Math.abs(v));
    }
  }
  return { q, d };
}

/** y[r] = sum_b ((float)isum_b * d_x[b]) * d_w[b], the weight read from its dequantized form (codes x scale). */
function matmulQ8Ref(weight: PackedWeight, x: Float32Array): Float32Array {
  const { q, d } = quantizeQ8Ref(x);
  const view = new DataView(weight.data.buffer, weight.data.byteOffset, weight.data.byteLength);
  const blocks = weight.cols / 32;
  const y = new Float32Array(weight.rows);
  for (let r = 0; r < weight.rows; r++) {
    let acc = 0;
    for (let b = 0; b < blocks; b++) {
      const at = (r * blocks + b) * 34;
      const scale = f32(halfToFloat(view.getUint16(at, true)));
      let isum = 0;
      for (let j = 0; j < 32; j++) isum += view.getInt8(at + 2 + j) * (q[32 * b + j] ?? 0);
      acc = f32(acc + f32(f32(isum * (d[b] ?? 0)) * scale));
    }
    y[r] = acc;
  }
  return y;
}

function halfToFloat(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

describe("Q8_0 weights x Q8_0 activations", () => {
  it("the scalar path is the contract, bit for bit (every row tail, several K)", () => {
    const random = rng(81);
    for (const rows of [1, 3, 4, 5, 11]) {
      for (const cols of [32, 96, 2560]) {
        const weight = quantize("Q8_0", randomFloats(rows * cols, random), rows, cols);
        const x = randomFloats(cols, random);
        x[5] = 0; // a zero, an exact half-way value and a block of zeros: the rounding cases
        if (cols > 64) x.fill(0, 32, 64);
        const got = matmul(weight, x, 1, { isa: "scalar", activations: "q8_0" });
        expect(Array.from(got)).toEqual(Array.from(matmulQ8Ref(weight, x)));
      }
    }
  });

  for (const isa of hardware().available.filter((p) => p !== "scalar")) {
    it(`${isa} agrees with the scalar path within float rounding (row tails, K tails, M > 1)`, () => {
      const random = rng(82);
      for (const rows of [1, 3, 4, 5, 8, 11, 64]) {
        for (const cols of [32, 64, 96, 2560]) {
          for (const m of [1, 3]) {
            const weight = quantize("Q8_0", randomFloats(rows * cols, random), rows, cols);
            const x = randomFloats(m * cols, random);
            const got = matmul(weight, x, m, { isa, activations: "q8_0" });
            const want = matmul(weight, x, m, { isa: "scalar", activations: "q8_0" });
            for (let i = 0; i < want.length; i++) {
              expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0))).toBeLessThanOrEqual(1e-5 * Math.sqrt(cols));
            }
          }
        }
      }
    });
  }

  it("differs from fp32 activations by no more than the activations' rounding explains", () => {
    const random = rng(83);
    const rows = 64;
    const cols = 2560;
    const weight = quantize("Q8_0", randomFloats(rows * cols, random), rows, cols);
    const x = randomFloats(cols, random);
    const exact = matmul(weight, x, 1, { activations: "float" });
    const got = matmul(weight, x, 1, { activations: "q8_0" });
    const w = dequantize(weight);
    for (let r = 0; r < rows; r++) {
      // each activation moves by at most half its block's step (amax / 254)
      let bound = 0;
      for (let b = 0; b < cols / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j] ?? 0));
        for (let j = 0; j < 32; j++) bound += (Math.abs(w[r * cols + 32 * b + j] ?? 0) * amax) / 254;
      }
      const error = Math.abs((got[r] ?? 0) - (exact[r] ?? 0));
      expect(error).toBeLessThanOrEqual(bound * 1.001 + 1e-4);
      expect(error).toBeGreaterThan(0); // it is a different, coarser product, not the float path renamed
    }
  });

  it("is refused for other weight types, with a clear message", () => {
    const random = rng(84);
    const cols = 256;
    for (const type of ["F16", "TQ2_0"] as const) {
      const weight = quantize(type, randomFloats(4 * cols, random), 4, cols, { absmean: type === "TQ2_0" });
      expect(() => matmul(weight, randomFloats(cols, random), 1, { activations: "q8_0" })).toThrow(
        /"q8_0" needs a Q8_0 weight/,
      );
    }
    const q8 = quantize("Q8_0", randomFloats(4 * 64, random), 4, 64);
    expect(() => matmul(q8, randomFloats(64, random), 1, { activations: "int4" as never })).toThrow(
      /expected "int8", "q8_0" or "float"/,
    );
  });
});
