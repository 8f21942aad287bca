/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) over the nano parameters, and the
 * learning-rate / weight-decay schedules the reference trainer uses.
 *
 * Update per element, step t = 1, 2, …:
 *   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
 *   θ −= lr · ( (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + eps) + wd·θ )      (wd only on matrices)
 * Matrices are the embedding (tied head) and the seven linear weights of each block; norms
 * are never decayed.
 */
import { type NanoParams, namedTensors, type TensorKind } from "./model.js";

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** which tensor kinds take weight decay; default matrices: embedding and linear */
  readonly decayKinds?: readonly TensorKind[];
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly decayKinds: readonly TensorKind[];
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  /** steps taken so far */
  t = 0;

  constructor(params: NanoParams, options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.95;
    this.eps = options.eps ?? 1e-8;
    this.decayKinds = options.decayKinds ?? ["embedding", "linear"];
    const tensors = namedTensors(params);
    this.m = tensors.map((t) => new Float64Array(t.tensor.length));
    this.v = tensors.map((t) => new Float64Array(t.tensor.length));
  }

  /** One update of `params` in place from `grads` (same shapes). */
  step(params: NanoParams, grads: NanoParams, lr: number, weightDecay: number): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    const ps = namedTensors(params);
    const gs = namedTensors(grads);
    if (gs.length !== ps.length || ps.length !== this.m.length) throw new Error("grads do not match the parameters");
    ps.forEach((p, k) => {
      const g = gs[k]!.tensor;
      const m = this.m[k]!;
      const v = this.v[k]!;
      const theta = p.tensor;
      if (g.length !== theta.length) throw new Error(`gradient of ${p.name} has the wrong size`);
      const wd = this.decayKinds.includes(p.kind) ? weightDecay : 0;
      for (let i = 0; i < theta.length; i++) {
        const gi = g[i]!;
        m[i] = this.beta1 * m[i]! + (1 - this.beta1) * gi;
        v[i] = this.beta2 * v[i]! + (1 - this.beta2) * gi * gi;
        const update = m[i]! / bc1 / (Math.sqrt(v[i]! / bc2) + this.eps);
        theta[i] = theta[i]! - lr * (update + wd * theta[i]!);
      }
    });
  }
}

export interface StageSchedule {
  /** learning rate at the stage's start (after warmup, for the first stage) */
  readonly peakLr: number;
  /** learning rate at the stage's end */
  readonly finalLr: number;
  readonly decay: "cosine" | "linear";
  readonly weightDecay: number;
}

export interface Schedule {
  readonly totalSteps: number;
  /** linear warmup from 0 to the first stage's peak over this many steps */
  readonly warmupSteps: number;
  /** one stage, or two: the second starts at `boundary` (a fraction of totalSteps) */
  readonly stages: readonly [StageSchedule] | readonly [StageSchedule, StageSchedule];
  readonly boundary?: number;
}

export interface ScheduledValues {
  readonly lr: number;
  readonly weightDecay: number;
  readonly stage: 0 | 1;
}

function interpolate(from: number, to: number, progress: number, decay: "cosine" | "linear"): number {
  const p = Math.min(1, Math.max(0, progress));
  const k = decay === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return to + (from - to) * k;
}

/** Learning rate and weight decay for step `step` (0-based) of the schedule. */
export function scheduleAt(s: Schedule, step: number): ScheduledValues {
  const boundaryStep = s.stages.length === 2 ? Math.round((s.boundary ?? 0.5) * s.totalSteps) : s.totalSteps;
  const first = s.stages[0];
  const second = s.stages[1];
  if (second === undefined || step < boundaryStep) {
    if (step < s.warmupSteps) {
      return { lr: (first.peakLr * (step + 1)) / s.warmupSteps, weightDecay: first.weightDecay, stage: 0 };
    }
    const span = Math.max(1, boundaryStep - s.warmupSteps);
    return {
      lr: interpolate(first.peakLr, first.finalLr, (step - s.warmupSteps) / span, first.decay),
      weightDecay: first.weightDecay,
      stage: 0,
    };
  }
  const span = Math.max(1, s.totalSteps - boundaryStep);
  return {
    lr: interpolate(second.peakLr, second.finalLr, (step - boundaryStep) / span, second.decay),
    weightDecay: second.weightDecay,
    stage: 1,
  };
}

/** Full-precision twin: warmup, then one cosine decay to 10% of the peak, constant decay 0.1. */
export function fp32Schedule(totalSteps: number, peakLr = 6e-4, warmupSteps = Math.ceil(totalSteps / 50)): Schedule {
  return {
    totalSteps,
    warmupSteps,
    stages: [{ peakLr, finalLr: peakLr / 10, decay: "cosine", weightDecay: 0.1 }],
  };
}

/**
 * BitNet b1.58 two-stage schedule, scaled by `peakLr`. The shape follows the BitNet b1.58
 * 2B4T technical report (arXiv:2504.12285, §3 pre-training), as summarised in
 * https://github.com/kevbuh/bitnet/blob/main/SPEC.md: learning rate 1.5e-3 decaying to 8e-4
 * in the first stage, then 5e-4 decaying to 0 in the second ("cooldown"); weight decay 0.1 in
 * the first stage and 0 (off) in the second. The report decays with cosine in stage one.
 * Not re-verified against the paper's text here: the numbers are parameters, not constants.
 * Ternary training wants a higher peak than the fp32 twin, hence the larger default.
 */
export function bitnetTwoStageSchedule(
  totalSteps: number,
  peakLr = 1.5e-3,
  warmupSteps = Math.ceil(totalSteps / 50),
): Schedule {
  const k = peakLr / 1.5e-3;
  return {
    totalSteps,
    warmupSteps,
    boundary: 0.5,
    stages: [
      { peakLr, finalLr: 8e-4 * k, decay: "cosine", weightDecay: 0.1 },
      { peakLr: 5e-4 * k, finalLr: 0, decay: "linear", weightDecay: 0 },
    ],
  };
}
