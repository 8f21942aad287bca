/**
 * matmulShared: several weights reading one input in one call (q, k, v; gate, up) must give
 * exactly what separate matmul calls give, on every path, for decode (m = 1, one pool job over
 * all weights) and prefill (m > 1).
 */
import { describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { hardware, matmul, matmulShared, type PackedWeight, quantize, setThreads, type WeightType } from "./index.js";

const COLS = 512;

function weight(type: WeightType, rows: number, seed: number): PackedWeight {
  return quantize(type, randomFloats(rows * COLS, rng(seed)), rows, COLS, { absmean: type !== "F16" });
}

describe("matmulShared", () => {
  for (const isa of hardware().available) {
    for (const type of ["TQ2_0", "TQ1_0", "I2_S", "F16"] as const) {
      for (const m of [1, 3, 9]) {
        it(`${isa} ${type} m=${m}: equals separate matmuls bit for bit, at 1 and 2 threads`, () => {
          // unequal row counts, like q (wide) and k, v (narrow), so tasks cross weight boundaries unevenly
          const weights = [weight(type, 96, 1), weight(type, 16, 2), weight(type, 48, 3)];
          const x = randomFloats(m * COLS, rng(7 + m), 3);
          for (const threads of [1, 2]) {
            setThreads(threads);
            const outs = weights.map((w) => new Float32Array(m * w.rows).fill(Number.NaN));
            matmulShared(weights, x, m, outs, { isa });
            for (const [i, w] of weights.entries()) expect(outs[i]).toEqual(matmul(w, x, m, { isa }));
          }
        });
      }
    }
  }

  it("refuses what separate calls would refuse, and what only a shared call can get wrong", () => {
    const a = weight("TQ2_0", 32, 1);
    const b = weight("TQ2_0", 16, 2);
    const x = new Float32Array(COLS);
    const narrow = quantize("TQ2_0", new Float32Array(16 * 256), 16, 256);
    expect(() => matmulShared([], x, 1, [])).toThrow(/^weights: /);
    expect(() =>
      matmulShared(
        [a, b, a, b, a],
        x,
        1,
        [1, 2, 3, 4, 5].map(() => new Float32Array(32)),
      ),
    ).toThrow(/^weights: /);
    expect(() => matmulShared([a, b], x, 1, [new Float32Array(32)])).toThrow(/^outs: /);
    expect(() => matmulShared([a, b], x, 1, [new Float32Array(32), new Float32Array(15)])).toThrow(/^options\.out: /);
    expect(() => matmulShared([a, narrow], x, 1, [new Float32Array(32), new Float32Array(16)])).toThrow(/^x: /);
    expect(() => matmulShared([a, weight("F16", 16, 3)], x, 1, [new Float32Array(32), new Float32Array(16)])).toThrow(
      /^weights: .*cannot share/,
    );
    const shared = new Float32Array(48);
    expect(() => matmulShared([a, b], x, 1, [shared.subarray(0, 32), shared.subarray(16, 32)])).toThrow(
      /^outs: .*overlaps/,
    );
  });
});
