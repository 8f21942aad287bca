/**
 * Q6_K, the type llama.cpp often writes token_embd in, read by the kernels, against blocks packed
 * in TypeScript (test/helpers/q6k.ts) from chosen codes, so the C reading is checked against an
 * independent one.
 */
import { describe, expect, it } from "vitest";
import { randomQ6K } from "../test/helpers/q6k.js";
import { randomFloats, rng } from "../test/helpers/random.js";
import { dequantize, hardware, matmul, type PackedWeight, quantize, tensorBytes } from "./index.js";

describe("Q6_K", () => {
  it("is 210 bytes per 256 values and needs whole blocks", () => {
    expect(tensorBytes("Q6_K", 3, 512)).toBe(3 * 2 * 210);
    expect(tensorBytes("Q6_K", 1, 300)).toBe(-1);
  });

  it("dequantizes every field as ggml's block layout defines it", () => {
    const { weight, values } = randomQ6K(3, 512, 1);
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
        const { weight, values } = randomQ6K(rows, cols, rows * 31 + cols);
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
