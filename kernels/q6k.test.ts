/**
 * Q6_K, the type llama.cpp often writes token_embd in, read by the kernels. The blocks here are
 * packed in TypeScript from chosen 6-bit codes, scales and d following ggml's block_q6_K
 * (ql[128] low nibbles, qh[64] high bit pairs, int8 scales[16], fp16 d; value
 * d * scale * (q - 32)), so the C reading is checked against an independent one.
 */
import { describe, expect, it } from "vitest";
import { randomFloats, randomInt, rng } from "../test/helpers/random.js";
import { dequantize, hardware, matmul, type PackedWeight, quantize, tensorBytes } from "./index.js";

const BLOCK = 256;
const BLOCK_BYTES = 210;
/** fp16 bits of scales that are exact in fp16 and fp32 */
const D_BITS = [0x1400, 0x1a00, 0x2000, 0x9c00];

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  return sign * (1 + (bits & 0x3ff) / 1024) * 2 ** (exp - 15);
}

interface Q6Block {
  codes: number[]; // 256 values 0..63
  scales: number[]; // 16 int8
  dBits: number;
}

function packBlock(b: Q6Block, out: Uint8Array, at: number): void {
  for (let h = 0; h < 2; h++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const q = b.codes[128 * h + 32 * j + l] ?? 0;
        const ql = at + 64 * h + l + 32 * (j & 1);
        out[ql] = (out[ql] ?? 0) | ((q & 0xf) << (j < 2 ? 0 : 4));
        const qh = at + 128 + 32 * h + l;
        out[qh] = (out[qh] ?? 0) | ((q >> 4) << (2 * j));
      }
    }
  }
  b.scales.forEach((s, i) => {
    out[at + 192 + i] = s & 0xff;
  });
  out[at + 208] = b.dBits & 0xff;
  out[at + 209] = b.dBits >> 8;
}

/** What each value must read back as: (d * scale) * (q - 32) in fp32, ggml's order. */
function valueOf(b: Q6Block, i: number): number {
  const scale = Math.fround(halfToFloat(b.dBits) * (b.scales[Math.floor(i / 16)] ?? 0));
  return Math.fround(scale * ((b.codes[i] ?? 0) - 32));
}

function randomWeight(rows: number, cols: number, seed: number): { weight: PackedWeight; values: Float32Array } {
  const random = rng(seed);
  const blocksPerRow = cols / BLOCK;
  const data = new Uint8Array(rows * blocksPerRow * BLOCK_BYTES);
  const values = new Float32Array(rows * cols);
  for (let b = 0; b < rows * blocksPerRow; b++) {
    const block: Q6Block = {
      codes: Array.from({ length: BLOCK }, () => randomInt(random, 0, 63)),
      scales: Array.from({ length: 16 }, () => randomInt(random, -128, 127)),
      dBits: D_BITS[randomInt(random, 0, D_BITS.length - 1)] ?? 0x1400,
    };
    packBlock(block, data, b * BLOCK_BYTES);
    for (let i = 0; i < BLOCK; i++) values[b * BLOCK + i] = valueOf(block, i);
  }
  return { weight: { type: "Q6_K", rows, cols, data }, values };
}

describe("Q6_K", () => {
  it("is 210 bytes per 256 values and needs whole blocks", () => {
    expect(tensorBytes("Q6_K", 3, 512)).toBe(3 * 2 * 210);
    expect(tensorBytes("Q6_K", 1, 300)).toBe(-1);
  });

  it("dequantizes every field as ggml's block layout defines it", () => {
    const { weight, values } = randomWeight(3, 512, 1);
    expect(Array.from(dequantize(weight))).toEqual(Array.from(values));
  });

  it("is read only: quantize refuses it", () => {
    expect(() => quantize("Q6_K", new Float32Array(256), 1, 256)).toThrow(/Q6_K is read only/);
  });

  for (const isa of hardware().available) {
    it(`${isa}: the float product (M = 1 head GEMV and M > 1) agrees with the dequantized weights`, () => {
      const random = rng(7);
      for (const [rows, cols, m] of [
        [1, 256, 1],
        [5, 512, 1],
        [11, 2560, 1],
        [6, 768, 3],
      ] as const) {
        const { weight, values } = randomWeight(rows, cols, rows * 31 + cols);
        const x = randomFloats(m * cols, random);
        const got = matmul(weight, x, m, { isa, activations: "float" });
        const f32: PackedWeight = { type: "F32", rows, cols, data: new Uint8Array(values.buffer) };
        const want = matmul(f32, x, m, { isa: "scalar", activations: "float" });
        for (let i = 0; i < want.length; i++) {
          const magnitude = Math.max(1, Math.abs(want[i] ?? 0));
          expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0)), `${rows}x${cols} m=${m} [${i}]`).toBeLessThanOrEqual(
            1e-5 * magnitude * Math.sqrt(cols),
          );
        }
      }
    });
  }
});
