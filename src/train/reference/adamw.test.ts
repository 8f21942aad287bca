import { describe, expect, it } from "vitest";
import { AdamW, bitnetTwoStageSchedule, fp32Schedule, scheduleAt } from "./adamw.js";
import { lossAndGrads, lossOf, type TrainingMode } from "./forward-backward.js";
import { cloneParams, initParams, type NanoConfig, namedTensors, zeroParams } from "./model.js";

const TINY: NanoConfig = {
  layers: 1,
  embedding: 16,
  feedForward: 32,
  heads: 4,
  kvHeads: 2,
  vocab: 23,
  context: 16,
  ropeBase: 10000,
  eps: 1e-5,
};

describe("AdamW", () => {
  it("first step moves each parameter by lr·sign(g) (bias-corrected), decays matrices only", () => {
    const p = initParams(TINY, 1);
    const before = cloneParams(p);
    const g = zeroParams(TINY);
    g.layers[0]!.wq[0] = 3;
    g.layers[0]!.attnNorm[0] = -0.01;
    const opt = new AdamW(p);
    opt.step(p, g, 0.1, 0.5);
    const lr = 0.1;
    expect(p.layers[0]!.wq[0]).toBeCloseTo(before.layers[0]!.wq[0]! - lr * (1 + 0.5 * before.layers[0]!.wq[0]!), 6);
    expect(p.layers[0]!.attnNorm[0]).toBeCloseTo(1 + lr, 6); // norm: no decay
    expect(p.layers[0]!.attnNorm[1]).toBe(1); // zero gradient, no decay
    expect(p.layers[0]!.wk[2]).toBeCloseTo(before.layers[0]!.wk[2]! * (1 - lr * 0.5), 12); // decay only
    expect(p.embedding[5]).toBeCloseTo(before.embedding[5]! * (1 - lr * 0.5), 12);
  });

  it("the moments follow β1 = 0.9, β2 = 0.95 with bias correction", () => {
    const c = { ...TINY, layers: 0 };
    const p = initParams(c, 2);
    const g = zeroParams(c);
    const opt = new AdamW(p);
    const start = p.finalNorm[0]!;
    g.finalNorm[0] = 1;
    opt.step(p, g, 1, 0);
    g.finalNorm[0] = -1;
    opt.step(p, g, 1, 0);
    // m2 = 0.9·0.1 − 0.1 = −0.01, v2 = 0.95·0.05 + 0.05 = 0.0975
    const m = -0.01 / (1 - 0.9 ** 2);
    const v = 0.0975 / (1 - 0.95 ** 2);
    expect(p.finalNorm[0]).toBeCloseTo(start - 1 / (1 + 1e-8) - m / (Math.sqrt(v) + 1e-8), 12);
  });

  for (const mode of ["fp32", "qat"] as const satisfies readonly TrainingMode[]) {
    it(`${mode}: steps on a repeated short sequence make the loss fall`, () => {
      const p = initParams(TINY, 7);
      const tokens = [1, 5, 9, 2, 1, 5, 9, 2, 1, 5, 9, 2, 1];
      const schedule = mode === "qat" ? bitnetTwoStageSchedule(40, 1e-2, 4) : fp32Schedule(40, 1e-2, 4);
      const opt = new AdamW(p);
      const first = lossOf(p, TINY, tokens, mode);
      expect(first).toBeGreaterThan(Math.log(TINY.vocab) - 0.1);
      let last = first;
      for (let step = 0; step < schedule.totalSteps; step++) {
        const { loss, grads } = lossAndGrads(p, TINY, tokens, mode);
        expect(Number.isFinite(loss)).toBe(true);
        const { lr, weightDecay } = scheduleAt(schedule, step);
        opt.step(p, grads, lr, weightDecay);
        last = loss;
      }
      last = lossOf(p, TINY, tokens, mode);
      expect(last).toBeLessThan(first * 0.5);
      for (const t of namedTensors(p)) for (const v of t.tensor) expect(Number.isFinite(v)).toBe(true);
    });
  }
});

describe("schedules", () => {
  it("fp32: linear warmup to the peak, cosine down to 10%, constant decay", () => {
    const s = fp32Schedule(100, 1e-3, 10);
    expect(scheduleAt(s, 0).lr).toBeCloseTo(1e-4, 15);
    expect(scheduleAt(s, 9).lr).toBeCloseTo(1e-3, 15);
    expect(scheduleAt(s, 10).lr).toBeCloseTo(1e-3, 15);
    expect(scheduleAt(s, 55).lr).toBeCloseTo(5.5e-4, 15); // cosine midpoint
    expect(scheduleAt(s, 100).lr).toBeCloseTo(1e-4, 15);
    for (let step = 11; step < 100; step++) {
      expect(scheduleAt(s, step).lr).toBeLessThanOrEqual(scheduleAt(s, step - 1).lr);
      expect(scheduleAt(s, step).weightDecay).toBe(0.1);
    }
  });

  it("BitNet two-stage: 1.5e-3 → 8e-4 with decay 0.1, then 5e-4 → 0 with weight decay off", () => {
    const s = bitnetTwoStageSchedule(1000, 1.5e-3, 20);
    expect(scheduleAt(s, 19)).toEqual({ lr: 1.5e-3, weightDecay: 0.1, stage: 0 });
    expect(scheduleAt(s, 499).lr).toBeCloseTo(8e-4, 7); // one step before the end of the decay
    expect(scheduleAt(s, 499).weightDecay).toBe(0.1);
    expect(scheduleAt(s, 500)).toEqual({ lr: 5e-4, weightDecay: 0, stage: 1 });
    expect(scheduleAt(s, 750).lr).toBeCloseTo(2.5e-4, 12);
    expect(scheduleAt(s, 999).weightDecay).toBe(0);
    expect(scheduleAt(s, 1000).lr).toBe(0);
    // a different peak scales the whole shape
    expect(scheduleAt(bitnetTwoStageSchedule(1000, 3e-3, 20), 500).lr).toBeCloseTo(1e-3, 15);
  });
});
