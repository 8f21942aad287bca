import { describe, expect, it } from "vitest";
import { flattenParams, unflattenParams } from "../src/train/params.js";
import { AdamW } from "../src/train/reference/adamw.js";
import { lossAndGrads } from "../src/train/reference/forward-backward.js";
import { initParams, type NanoConfig, namedTensors } from "../src/train/reference/model.js";
import { seededRandom } from "../src/util/seeded-random.js";
import { hardware } from "./index.js";
import { NativeTrainer, trainerParamCount } from "./trainer.js";

// odd sizes on purpose: every product runs through the tile edges as well as full tiles
const TINY: NanoConfig = {
  layers: 2,
  embedding: 16,
  feedForward: 40,
  heads: 4,
  kvHeads: 2,
  vocab: 37,
  context: 9,
  ropeBase: 10000,
  eps: 1e-5,
};
const BATCH = 3;
const SEQ = 8;

function tokens(seed: number): Int32Array {
  const random = seededRandom(seed);
  return Int32Array.from({ length: BATCH * (SEQ + 1) }, () => Math.floor(random() * TINY.vocab));
}

/** Parameters with visible structure: larger weights and norms away from 1. */
function params(seed: number) {
  const p = initParams(TINY, seed, 0.3);
  const random = seededRandom(seed + 1);
  for (const t of namedTensors(p)) {
    if (t.kind === "norm") for (let i = 0; i < t.tensor.length; i++) t.tensor[i] = 0.7 + 0.6 * random();
  }
  return p;
}

/** The reference's loss and gradients averaged over the batch (each sequence is one reference call). */
function reference(p: ReturnType<typeof params>, ids: Int32Array, mode: "fp32" | "qat") {
  let loss = 0;
  const sum = new Float64Array(flattenParams(p).length);
  for (let b = 0; b < BATCH; b++) {
    const seq = Array.from(ids.subarray(b * (SEQ + 1), (b + 1) * (SEQ + 1)));
    const r = lossAndGrads(p, TINY, seq, mode);
    loss += r.loss / BATCH;
    const g = flattenParams(r.grads);
    for (let i = 0; i < g.length; i++) sum[i]! += g[i]! / BATCH;
  }
  return { loss, grads: sum };
}

/** Largest |a − b| per tensor relative to that tensor's largest reference gradient. */
function worstRelative(actual: Float32Array, expected: Float64Array): { name: string; error: number } {
  let worst = { name: "", error: 0 };
  let offset = 0;
  for (const t of namedTensors(unflattenParams(new Float32Array(expected), TINY))) {
    let scale = 1e-12;
    let diff = 0;
    for (let i = 0; i < t.tensor.length; i++) {
      scale = Math.max(scale, Math.abs(expected[offset + i]!));
      diff = Math.max(diff, Math.abs(actual[offset + i]! - expected[offset + i]!));
    }
    if (diff / scale > worst.error) worst = { name: t.name, error: diff / scale };
    offset += t.tensor.length;
  }
  return worst;
}

const isas = ["generic", ...(hardware().features.avx512f ? (["avx512"] as const) : [])] as const;

describe.each(isas)("native trainer (%s) against the reference forward/backward", (isa) => {
  for (const mode of ["fp32", "qat"] as const) {
    it(`${mode}: loss and every gradient`, () => {
      const p = params(11);
      const ids = tokens(5);
      const trainer = new NativeTrainer({ ...TINY, batch: BATCH }, mode, isa);
      expect(trainer.isa).toBe(isa);
      trainer.params.set(flattenParams(p));
      trainer.zeroGrads();
      const loss = trainer.step(ids, BATCH, SEQ, true);
      const ref = reference(p, ids, mode);
      expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      const worst = worstRelative(trainer.grads, ref.grads);
      // fp32 against float64: rounding only; qat: the same, plus the rare input that sits on a
      // rounding boundary of the int8 quantizer in one precision and not the other
      expect(worst.error, worst.name).toBeLessThan(mode === "fp32" ? 2e-4 : 5e-3);
    });
  }

  it("a forward-only step returns the same loss and leaves the gradients alone", () => {
    const trainer = new NativeTrainer({ ...TINY, batch: BATCH }, "qat", isa);
    trainer.params.set(flattenParams(params(3)));
    trainer.zeroGrads();
    const withGrads = trainer.step(tokens(9), BATCH, SEQ, true);
    const snapshot = trainer.grads.slice();
    expect(trainer.step(tokens(9), BATCH, SEQ, false)).toBe(withGrads);
    expect(trainer.grads).toEqual(snapshot);
  });

  it("gradients accumulate across steps", () => {
    const trainer = new NativeTrainer({ ...TINY, batch: BATCH }, "fp32", isa);
    trainer.params.set(flattenParams(params(4)));
    trainer.zeroGrads();
    trainer.step(tokens(1), BATCH, SEQ, true);
    const once = trainer.grads.slice();
    trainer.step(tokens(1), BATCH, SEQ, true);
    for (let i = 0; i < once.length; i += 97) expect(trainer.grads[i]).toBeCloseTo(2 * once[i]!, 5);
  });

  it("shorter batches and sequences than the trainer was sized for", () => {
    const p = params(12);
    const trainer = new NativeTrainer({ ...TINY, batch: BATCH }, "fp32", isa);
    trainer.params.set(flattenParams(p));
    const ids = Int32Array.from([1, 5, 9, 2, 30]);
    const ref = lossAndGrads(p, TINY, Array.from(ids), "fp32");
    expect(trainer.step(ids, 1, 4, false)).toBeCloseTo(ref.loss, 5);
  });

  it("AdamW matches the reference update, weight decay on matrices only", () => {
    const p = params(21);
    const ref = reference(p, tokens(2), "fp32");
    const trainer = new NativeTrainer({ ...TINY, batch: BATCH }, "fp32", isa);
    trainer.params.set(flattenParams(p));
    const optimizer = new AdamW(p);
    const grads = unflattenParams(new Float32Array(ref.grads), TINY);
    for (let step = 1; step <= 3; step++) {
      trainer.grads.set(new Float32Array(ref.grads));
      const norm = trainer.adamw({ lr: 0.01, weightDecay: 0.5, step });
      optimizer.step(p, grads, 0.01, 0.5);
      const expectedNorm = Math.sqrt(ref.grads.reduce((s, g) => s + g * g, 0));
      expect(norm).toBeCloseTo(expectedNorm, 4);
    }
    const expected = flattenParams(p);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(trainer.params[i]! - expected[i]!));
    expect(worst).toBeLessThan(1e-5);
  });
});

describe("native trainer arguments", () => {
  it("counts parameters like the reference", () => {
    expect(trainerParamCount(TINY)).toBe(flattenParams(initParams(TINY, 1)).length);
  });

  it("rejects bad shapes, tokens and optimizer values by name", () => {
    expect(() => new NativeTrainer({ ...TINY, heads: 3, batch: 1 }, "fp32")).toThrow(/multiple of heads/);
    const trainer = new NativeTrainer({ ...TINY, batch: 1 }, "fp32");
    expect(() => trainer.step(new Int32Array(10), 2, SEQ, false)).toThrow(/batch/);
    expect(() => trainer.step(new Int32Array(5), 1, SEQ, false)).toThrow(/tokens: expected batch x \(seq \+ 1\)/);
    expect(() => trainer.step(Int32Array.from([1, 2, 37]), 1, 2, false)).toThrow(/outside the vocabulary/);
    expect(() => trainer.step(new Int32Array(11), 1, 10, false)).toThrow(/seq/);
    expect(() => trainer.adamw({ lr: Number.NaN, weightDecay: 0, step: 1 })).toThrow(/lr/);
    expect(() => trainer.adamw({ lr: 0.1, weightDecay: 0, step: 0 })).toThrow(/step/);
  });
});
