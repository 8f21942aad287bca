/**
 * The native trainer (kernels/src/train*.c): one BitNet-architecture training step — forward,
 * mean next-token cross-entropy, backward — and AdamW, in fp32 or BitNet b1.58 QAT mode. The
 * parameters, gradients and moments are Float32Arrays owned here (flat, in the layout of
 * kernels/src/train.h) so callers can initialise, checkpoint and export them directly.
 */
import { loadNative, type NativeTrainerConfig, type NativeTrainerHandle } from "./native.js";

export type TrainerConfig = Omit<NativeTrainerConfig, "qat" | "isa">;
export type TrainerMode = "fp32" | "qat";

export interface AdamWStep {
  readonly lr: number;
  readonly weightDecay: number;
  /** 1-based step number (bias correction) */
  readonly step: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** multiplies the accumulated gradients first, e.g. 1 / micro-batches */
  readonly gradScale?: number;
  /** global gradient-norm clip, 0 = none */
  readonly clip?: number;
}

const native = loadNative();

/** Parameters of the nano architecture (must match tg_train_param_count). */
export function trainerParamCount(c: Omit<TrainerConfig, "batch" | "context" | "ropeBase" | "eps">): number {
  const E = c.embedding;
  const F = c.feedForward;
  const d = E / c.heads;
  const Q = c.heads * d;
  const KV = c.kvHeads * d;
  const layer = E + Q * E + 2 * KV * E + E * Q + Q + E + 2 * F * E + E * F + F;
  return c.vocab * E + c.layers * layer + E;
}

export class NativeTrainer {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly handle: NativeTrainerHandle;

  constructor(
    readonly config: TrainerConfig,
    readonly mode: TrainerMode,
    isa?: "generic" | "avx512",
  ) {
    const count = trainerParamCount(config);
    this.params = new Float32Array(count);
    this.grads = new Float32Array(count);
    this.m = new Float32Array(count);
    this.v = new Float32Array(count);
    this.handle = native.trainerCreate(
      { ...config, qat: mode === "qat" ? 1 : 0, ...(isa ? { isa } : {}) },
      this.params,
      this.grads,
      this.m,
      this.v,
    );
  }

  /** "generic" or "avx512": the compiled step this trainer runs. */
  get isa(): string {
    return native.trainerIsa(this.handle);
  }

  /**
   * Mean next-token loss of `batch` sequences of `seq + 1` ids each (inputs then the next id).
   * With `accumulate`, adds this batch's gradients to `grads` (zero them with zeroGrads first).
   */
  step(tokens: Int32Array, batch: number, seq: number, accumulate: boolean): number {
    return native.trainerStep(this.handle, tokens, batch, seq, accumulate);
  }

  zeroGrads(): void {
    this.grads.fill(0);
  }

  /** One AdamW update from the accumulated gradients; returns their norm (after gradScale). */
  adamw(s: AdamWStep): number {
    return native.trainerAdamw(
      this.handle,
      s.lr,
      s.weightDecay,
      s.beta1 ?? 0.9,
      s.beta2 ?? 0.95,
      s.eps ?? 1e-8,
      s.step,
      s.gradScale ?? 1,
      s.clip ?? 0,
    );
  }
}
