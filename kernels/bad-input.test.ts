/**
 * Bad input must become a thrown JS error naming the argument, never a crash: the fuzz cases
 * below run in this very process, so a segfault fails the whole suite.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import {
  dequantize,
  matmul,
  type PackedWeight,
  quantize,
  quantizeActivations,
  tensorBytes,
  WEIGHT_TYPE_IDS,
  type WeightType,
} from "./index.js";

const TYPES = Object.keys(WEIGHT_TYPE_IDS) as WeightType[];
const ARGUMENT_ERROR =
  /^(weight|weight\.type|weight\.data|weight\.rows|weight\.cols|x|m|options\.out|options\.activations|options\.isa): /;

function expectArgumentError(run: () => unknown, name: RegExp) {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error, "expected a thrown error").toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(name);
}

describe("named errors", () => {
  const good = quantize("TQ2_0", randomFloats(8 * 256, rng(1)), 8, 256);
  const x = randomFloats(256, rng(2));

  it("names each argument", () => {
    expectArgumentError(() => matmul({ ...good, data: good.data.subarray(1) }, x, 1), /^weight\.data: .*truncated/);
    expectArgumentError(() => matmul({ ...good, data: new Uint8Array(good.data.length + 1) }, x, 1), /^weight\.data: /);
    expectArgumentError(
      () => matmul({ ...good, cols: 300 }, x, 1),
      /^weight\.cols: 300 is not a multiple of TQ2_0's block/,
    );
    expectArgumentError(() => matmul({ ...good, rows: 0 }, x, 1), /^weight\.rows: /);
    expectArgumentError(
      () => matmul({ ...good, type: "Q4_K" as WeightType }, x, 1),
      /^weight\.type: unknown weight type "Q4_K"/,
    );
    expectArgumentError(() => matmul(null as unknown as PackedWeight, x, 1), /^weight: /);
    expectArgumentError(
      () => matmul({ ...good, data: new Int8Array(good.data.length) as unknown as Uint8Array }, x, 1),
      /^weight\.data: expected a Uint8Array/,
    );
    expectArgumentError(() => matmul(good, x.subarray(1), 1), /^x: expected m x cols/);
    expectArgumentError(
      () => matmul(good, new Float64Array(256) as unknown as Float32Array, 1),
      /^x: expected a Float32Array/,
    );
    expectArgumentError(() => matmul(good, x, 0), /^m: /);
    expectArgumentError(() => matmul(good, x, 1.5), /^m: expected an integer/);
    expectArgumentError(() => matmul(good, x, Number.NaN), /^m: /);
    expectArgumentError(() => matmul(good, x, 1, { out: new Float32Array(7) }), /^options\.out: /);
    expectArgumentError(() => matmul(good, x, 1, { activations: "int4" as "int8" }), /^options\.activations: /);
    expectArgumentError(() => matmul(good, x, 1, { isa: "neon" as "avx2" }), /^options\.isa: /);
    const f16 = quantize("F16", randomFloats(4 * 8, rng(3)), 4, 8);
    expectArgumentError(
      () => matmul(f16, randomFloats(8, rng(4)), 1, { activations: "int8" }),
      /^options\.activations: "int8" needs a ternary/,
    );
  });

  it("refuses misaligned F32 and F16 data", () => {
    const f32 = quantize("F32", randomFloats(4 * 8, rng(5)), 4, 8);
    const shifted = new Uint8Array(f32.data.length + 1).subarray(1);
    shifted.set(f32.data);
    expectArgumentError(
      () => matmul({ ...f32, data: shifted }, randomFloats(8, rng(6)), 1),
      /^weight\.data: misaligned/,
    );
  });

  it("refuses an output that overlaps the input", () => {
    const buffer = new Float32Array(256 + 8);
    expectArgumentError(
      () => matmul(good, buffer.subarray(0, 256), 1, { out: buffer.subarray(250, 258) }),
      /^options\.out: must not overlap/,
    );
  });
});

describe("fuzz", () => {
  it("random shapes and sizes either compute or throw a named error", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.integer({ min: -2, max: 40 }),
        fc.integer({ min: -2, max: 1100 }),
        fc.integer({ min: -2, max: 5 }),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (type, rows, cols, m, dataSlack, xSlack, seed) => {
          const expected = rows > 0 && cols > 0 ? tensorBytes(type, rows, cols) : -1;
          const dataBytes = Math.max(0, (expected > 0 ? expected : Math.max(0, rows * cols)) + dataSlack);
          const data = new Uint8Array(dataBytes);
          const random = rng(seed);
          for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256); // arbitrary bytes, codes 3 included
          const x = randomFloats(Math.max(0, m * Math.max(cols, 0) + xSlack), random);
          const weight = { type, rows, cols, data };
          const valid = expected > 0 && dataSlack === 0 && xSlack === 0 && m >= 1;
          try {
            const y = matmul(weight, x, m);
            expect(valid).toBe(true);
            expect(y.length).toBe(m * rows);
          } catch (e) {
            expect(valid, `${(e as Error).message}`).toBe(false);
            expect((e as Error).message).toMatch(ARGUMENT_ERROR);
          }
        },
      ),
      { numRuns: 400, seed: 42 },
    );
  });

  it("dequantize and activation quantization reject bad sizes too", () => {
    expectArgumentError(
      () => dequantize({ type: "I2_S", rows: 2, cols: 128, data: new Uint8Array(64) }),
      /^weight\.data: .*needs 96 bytes/,
    );
    expectArgumentError(() => quantizeActivations(new Float32Array(10), 3, 4), /^x: /);
    expectArgumentError(() => quantize("TQ1_0", new Float32Array(256), 2, 256), /^values: /);
  });
});
