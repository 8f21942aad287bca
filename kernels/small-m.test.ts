/**
 * Batched decode (small M): a row of an M-row product must be exactly what the same row alone
 * (M = 1) gives, on every path, at 1 and 2 threads, for the ternary formats (int8 activations)
 * and the heads (F16 and Q8_0 with float activations, Q8_0 with Q8_0 activations), so a sequence's logits do not depend on the batch it
 * was decoded in. Shapes are chosen so tasks hold several cache-sized chunks and end in partial
 * row groups.
 */
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { hardware, matmul, matmulShared, type PackedWeight, quantize, setThreads, type WeightType } from "./index.js";

const BATCHES = [2, 3, 4, 5, 7, 8, 9, 16, 17];
type Activations = "int8" | "float" | "q8_0";

function bytesOf(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

function weightOf(type: WeightType, rows: number, cols: number, seed: number, perBlock = false): PackedWeight {
  const values = randomFloats(rows * cols, rng(seed));
  const ternary = type === "TQ2_0" || type === "TQ1_0" || type === "I2_S";
  // per-block scales (ggml's own quantizer) make rows of several segments, the slow walk
  return quantize(type, values, rows, cols, { absmean: ternary && !perBlock });
}

/** Row j of an M-row product against the M = 1 product of row j alone. */
function expectRowsEqualSingles(
  weight: PackedWeight,
  x: Float32Array,
  m: number,
  got: Float32Array,
  isa: string,
  activations: Activations,
) {
  for (let j = 0; j < m; j++) {
    const alone = matmul(weight, x.subarray(j * weight.cols, (j + 1) * weight.cols), 1, {
      isa: isa as never,
      activations,
    });
    expect(bytesOf(got.subarray(j * weight.rows, (j + 1) * weight.rows)), `${weight.type} m ${m} row ${j}`).toBe(
      bytesOf(alone),
    );
  }
}

describe.each(hardware().available)("%s: M rows equal M single rows, bit for bit", (isa) => {
  const cases: Array<[WeightType, Activations, number, number, boolean]> = [
    ["TQ2_0", "int8", 700, 2560, false],
    ["TQ2_0", "int8", 203, 256, false], // nano's one-block rows: the epilogue is most of the work
    ["TQ2_0", "int8", 203, 256, true], // one block a row, so each row its own scale on the multi-row path
    ["I2_S", "int8", 203, 256, false],
    ["Q8_0", "q8_0", 203, 2560, false], // the Q8_0-activation head: L2-sized chunks, multi-row kernel
    ["Q8_0", "q8_0", 45, 96, false],
    ["TQ2_0", "int8", 37, 768, true],
    ["TQ1_0", "int8", 700, 2560, false],
    ["TQ1_0", "int8", 37, 768, true],
    ["I2_S", "int8", 700, 2560, false],
    ["F16", "float", 203, 2560, false],
    ["F16", "float", 45, 100, false],
    ["F16", "float", 13, 119, false], // K tails of 16 and 7 after the 32-wide steps
    // K in blocks of 512 columns on AVX-512 (accumulators carried between blocks): 2 full, a partial, a tail of 12
    ["F16", "float", 29, 1388, false],
    ["Q8_0", "float", 203, 2560, false],
    ["Q8_0", "float", 45, 96, false],
    ["Q8_0", "float", 29, 1056, false], // 33 blocks: two of 16 carried, then one
  ];
  for (const [type, activations, rows, cols, perBlock] of cases) {
    it(`${type} [${rows} x ${cols}]${perBlock ? " per-block scales" : ""}, M 2..17, 1 and 2 threads`, () => {
      const weight = weightOf(type, rows, cols, rows + cols, perBlock);
      const x = randomFloats(17 * cols, rng(cols), 3);
      for (const threads of [1, 2]) {
        setThreads(threads);
        for (const m of BATCHES) {
          const got = matmul(weight, x.subarray(0, m * cols), m, { isa, activations });
          expectRowsEqualSingles(weight, x, m, got, isa, activations);
        }
      }
    });
  }

  it("matmulShared at small M equals single rows (q, k, v of unequal heights)", () => {
    const cols = 512;
    const weights = [weightOf("TQ2_0", 96, cols, 1), weightOf("TQ2_0", 16, cols, 2), weightOf("TQ2_0", 48, cols, 3)];
    const x = randomFloats(5 * cols, rng(9), 3);
    for (const threads of [1, 2]) {
      setThreads(threads);
      for (const m of [2, 5]) {
        const outs = weights.map((w) => new Float32Array(m * w.rows).fill(Number.NaN));
        matmulShared(weights, x.subarray(0, m * cols), m, outs, { isa });
        for (const [i, w] of weights.entries()) expectRowsEqualSingles(w, x, m, outs[i] as Float32Array, isa, "int8");
      }
    }
  });
});

/**
 * The multi-row ternary kernels pack several weight rows into one vector (AVX-512: four, one
 * 128-bit quarter each, two or four such quads a pass; AVX2: two, up to K = 1024, then one row a
 * pass). Shapes around those switches, with row counts that end tasks in passes of two quads, one
 * quad and part of a quad, must still give each row its M = 1 bits.
 */
describe.each(hardware().available)("%s: ternary multi-row layouts at their shape boundaries", (isa) => {
  const cases: Array<[WeightType, number, number, boolean]> = [
    ["TQ2_0", 61, 512, false],
    ["TQ2_0", 61, 1024, false], // AVX2's last pair-layout K
    ["TQ2_0", 61, 1280, false], // AVX2 long rows (K a multiple of 256: 1280 is the first past 1024)
    ["TQ2_0", 29, 2048, false],
    ["TQ2_0", 45, 256, true], // each row its own scale: per-quarter scales on the quad path
    ["I2_S", 61, 768, false], // I2_S's reversed field order in the quad and pair layouts
    ["I2_S", 29, 2048, false],
  ];
  for (const [type, rows, cols, perBlock] of cases) {
    it(`${type} [${rows} x ${cols}]${perBlock ? " per-block scales" : ""}, M 2..17, 1 and 2 threads`, () => {
      const weight = weightOf(type, rows, cols, 3 * rows + cols, perBlock);
      const x = randomFloats(17 * cols, rng(cols + 1), 3);
      for (const threads of [1, 2]) {
        setThreads(threads);
        for (let m = 2; m <= 17; m++) {
          const got = matmul(weight, x.subarray(0, m * cols), m, { isa, activations: "int8" });
          expectRowsEqualSingles(weight, x, m, got, isa, "int8");
        }
      }
    });
  }
});
