/**
 * Every SIMD path against the scalar reference, and the scalar reference against an
 * independent TypeScript reading of the formats. Outputs are compared bit for bit: the
 * contract fixes the float operations, so equal integer sums give identical floats.
 */
import { describe, expect, it } from "vitest";
import { randomFloats, randomInt, rng } from "../test/helpers/random.js";
import { matmulInt8Ref, quantizeActivationsRef } from "../test/reference/ternary.js";
import {
  hardware,
  type Isa,
  matmul,
  type PackedWeight,
  quantize,
  quantizeActivations,
  TERNARY_TYPES,
  type WeightType,
} from "./index.js";

const simdPaths = hardware().available.filter((isa) => isa !== "scalar");
const BATCHES = [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 33, 64];

function bytesOf(a: Float32Array | Int8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

/** Scale layouts a real file can have: one per tensor, one per block, or runs of equal blocks. */
type ScaleLayout = "absmean" | "per-block" | "runs";

function ternaryWeight(type: WeightType, rows: number, cols: number, layout: ScaleLayout, seed: number): PackedWeight {
  const random = rng(seed);
  const values = randomFloats(rows * cols, random);
  if (layout === "absmean") return quantize(type, values, rows, cols, { absmean: true });
  if (layout === "runs") {
    // ggml's quantizer sets a block's scale to its absmax: pin each block's absmax to one of two values
    for (let start = 0; start < values.length; start += 256) {
      const amax = random() < 0.5 ? 0.5 : 0.75;
      for (let j = start; j < start + 256 && j < values.length; j++) values[j] = (values[j] ?? 0) * amax;
      values[start] = amax;
    }
  }
  return quantize(type, values, rows, cols);
}

function blockOf(type: WeightType): number {
  return type === "I2_S" ? 128 : 256;
}

describe("scalar C reference against the TypeScript reference", () => {
  for (const type of TERNARY_TYPES) {
    for (const layout of ["absmean", "per-block", "runs"] as const) {
      it(`${type}, ${layout} scales: identical floats`, () => {
        const random = rng(11);
        for (let trial = 0; trial < 4; trial++) {
          const rows = randomInt(random, 1, 19);
          const cols = blockOf(type) * randomInt(random, 1, 6);
          const m = randomInt(random, 1, 6);
          const weight = ternaryWeight(type, rows, cols, layout, 100 + trial);
          const x = randomFloats(m * cols, random, 3);
          expect(bytesOf(matmul(weight, x, m, { isa: "scalar" }))).toBe(bytesOf(matmulInt8Ref(weight, x, m)));
        }
      });
    }
  }

  it("activation quantization matches, zero rows and odd lengths included", () => {
    const random = rng(12);
    for (const k of [1, 7, 63, 64, 65, 255, 1000]) {
      const m = 3;
      const x = randomFloats(m * k, random, 5);
      x.fill(0, k, 2 * k); // the middle row is all zeros
      const ours = quantizeActivations(x, m, k, { isa: "scalar" });
      const ref = quantizeActivationsRef(x, m, k);
      expect(bytesOf(ours.q)).toBe(bytesOf(ref.q));
      expect(bytesOf(ours.scale)).toBe(bytesOf(ref.scale));
    }
  });
});

describe.each(simdPaths)("%s path against scalar", (isa: Isa) => {
  for (const type of TERNARY_TYPES) {
    for (const layout of ["absmean", "per-block", "runs"] as const) {
      it(`${type}, ${layout} scales, M from 1 to 64: bit-exact`, () => {
        const random = rng(21);
        for (const m of BATCHES) {
          const rows = randomInt(random, 1, 70);
          const cols = blockOf(type) * randomInt(random, 1, 12);
          const weight = ternaryWeight(type, rows, cols, layout, m * 7 + rows);
          const x = randomFloats(m * cols, random, 4);
          const want = matmul(weight, x, m, { isa: "scalar" });
          expect(bytesOf(matmul(weight, x, m, { isa })), `rows ${rows} cols ${cols} m ${m}`).toBe(bytesOf(want));
        }
      });
    }

    it(`${type}: the model shapes (2560 and 6912 columns) are bit-exact`, () => {
      const random = rng(22);
      for (const [rows, cols, m] of [
        [40, 2560, 1],
        [24, 6912, 1],
        [20, 2560, 9],
      ] as const) {
        const weight = ternaryWeight(type, rows, cols, "absmean", rows + cols);
        const x = randomFloats(m * cols, random, 2);
        expect(bytesOf(matmul(weight, x, m, { isa }))).toBe(bytesOf(matmul(weight, x, m, { isa: "scalar" })));
      }
    });
  }

  it("TQ1_0 GEMV: any packed byte (not only those ggml writes), mixed scales, rows past the kernel's 128-block drain", () => {
    // The fused TQ1_0 GEMV reads trits off the times-3 chain bytes; every byte value must give
    // the reference's trits, whatever wrote the file. Long rows cross the kernel's int32 drain.
    const random = rng(25);
    for (const [rows, cols] of [
      [9, 256 * 3],
      [7, 256 * 47],
      [5, 256 * 200],
    ] as const) {
      const blocks = (rows * cols) / 256;
      const data = new Uint8Array(blocks * 54);
      for (let i = 0; i < data.length; i++) data[i] = randomInt(random, 0, 255);
      for (let b = 0; b < blocks; b++) {
        const scale = random() < 0.3 ? 0x3800 : 0x3c00; // fp16 0.5 or 1.0
        data[b * 54 + 52] = scale & 0xff;
        data[b * 54 + 53] = scale >> 8;
      }
      const weight: PackedWeight = { type: "TQ1_0", rows, cols, data };
      const x = randomFloats(cols, random, 3);
      const want = matmul(weight, x, 1, { isa: "scalar" });
      expect(bytesOf(matmul(weight, x, 1, { isa })), `rows ${rows} cols ${cols}`).toBe(bytesOf(want));
    }
  });

  it("block formats read the same at an odd byte offset (blocks and their fp16 scales unaligned)", () => {
    // Only F32 and F16 data must be aligned; a GGUF tensor of blocks may start at any byte.
    const random = rng(26);
    for (const type of ["TQ1_0", "TQ2_0", "I2_S", "Q8_0"] as const) {
      const [rows, cols] = [13, 512];
      const weight = quantize(type, randomFloats(rows * cols, random), rows, cols, { absmean: type !== "Q8_0" });
      const shifted = new Uint8Array(weight.data.length + 1).subarray(1);
      shifted.set(weight.data);
      const moved: PackedWeight = { ...weight, data: shifted };
      for (const m of [1, 9]) {
        const x = randomFloats(m * cols, random);
        const activations = type === "Q8_0" ? "float" : undefined;
        const want = matmul(weight, x, m, { isa, activations });
        expect(bytesOf(matmul(moved, x, m, { isa, activations })), `${type} m ${m}`).toBe(bytesOf(want));
      }
    }
  });

  it("activation quantization is bit-exact for any length", () => {
    const random = rng(23);
    for (let trial = 0; trial < 40; trial++) {
      const k = randomInt(random, 1, 3000);
      const m = randomInt(random, 1, 4);
      const x = randomFloats(m * k, random, 10 ** randomInt(random, -3, 3));
      if (trial % 5 === 0) x.fill(0, 0, k);
      const got = quantizeActivations(x, m, k, { isa });
      const want = quantizeActivations(x, m, k, { isa: "scalar" });
      expect(bytesOf(got.q)).toBe(bytesOf(want.q));
      expect(bytesOf(got.scale)).toBe(bytesOf(want.scale));
    }
  });

  const floatCases: Array<[WeightType, number]> = [
    ["F32", 1],
    ["F16", 1],
    ["Q8_0", 32],
    ["TQ2_0", 256],
    ["TQ1_0", 256],
    ["I2_S", 128],
  ];
  // M = 1 takes the fused head GEMV (four rows a pass, a tail of single rows, K tails of 8 and 1)
  for (const [type, block] of floatCases.filter(([t]) => t === "F16" || t === "Q8_0")) {
    it(`${type} at M = 1 (the head GEMV) agrees within 1e-5 for every row tail and K tail`, () => {
      const random = rng(31);
      for (const rows of [1, 3, 4, 5, 8, 11]) {
        for (const cols of block === 1 ? [8, 31, 32, 33, 100, 2560] : [32, 64, 96, 2560]) {
          const weight = quantize(type, randomFloats(rows * cols, random), rows, cols);
          const x = randomFloats(cols, random);
          const got = matmul(weight, x, 1, { isa, activations: "float" });
          const want = matmul(weight, x, 1, { isa: "scalar", activations: "float" });
          for (let i = 0; i < rows; i++) {
            expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0))).toBeLessThanOrEqual(1e-5 * Math.sqrt(cols));
          }
        }
      }
    });
  }

  for (const [type, block] of floatCases) {
    it(`${type} with float activations agrees within 1e-5 (K not a multiple of the SIMD width)`, () => {
      const random = rng(24);
      for (let trial = 0; trial < 8; trial++) {
        const rows = randomInt(random, 1, 40);
        const cols = block === 1 ? randomInt(random, 1, 1100) : block * randomInt(random, 1, 8);
        const m = randomInt(random, 1, 9);
        const weight = quantize(type, randomFloats(rows * cols, random), rows, cols);
        const x = randomFloats(m * cols, random);
        const got = matmul(weight, x, m, { isa, activations: "float" });
        const want = matmul(weight, x, m, { isa: "scalar", activations: "float" });
        const scale = Math.sqrt(cols);
        for (let i = 0; i < want.length; i++) {
          expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0))).toBeLessThanOrEqual(1e-5 * scale);
        }
      }
    });
  }
});

it("at least the scalar path runs on every machine", () => {
  expect(hardware().available).toContain("scalar");
});
