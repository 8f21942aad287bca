/**
 * The float operations between the matmuls. RMSNorm and the gated activation are native
 * (`floatOps`, kernels/src/floatops.c): as JS loops they were ~7% of a 2B-4T decode token on one
 * core; natively they are a few microseconds and give the same bits on every CPU. RoPE stays
 * here: it is a few hundred cos/sin a token.
 */
import { floatOps } from "../../../kernels/index.js";

/** out[r] = x[r] / rms(x[r]) * weight, for `rows` rows of weight.length values (out may be x). */
export function rmsNorm(x: Float32Array, weight: Float32Array, rows: number, eps: number, out: Float32Array): void {
  floatOps.rmsNorm(x, weight, rows, eps, out);
}

/**
 * Rotary position embedding with NeoX pairing: within each head, element i rotates with element
 * i + ropeDim/2 (Hugging Face's rotate_half). llama.cpp and bitnet.cpp run every BitNet
 * architecture this way, and their converters keep Hugging Face's Q/K row order, so a GGUF's
 * rows are already in this order. Values past ropeDim are left as they are.
 */
export class Rope {
  private readonly inverseFrequency: Float64Array;

  constructor(
    private readonly headDim: number,
    ropeDim: number,
    base: number,
  ) {
    this.inverseFrequency = Float64Array.from({ length: ropeDim / 2 }, (_, i) => base ** ((-2 * i) / ropeDim));
  }

  /** Rotates `rows` rows of `heads` heads in place; row r sits at position start + r. */
  apply(x: Float32Array, rows: number, heads: number, start: number): void {
    const half = this.inverseFrequency.length;
    for (let r = 0; r < rows; r++) {
      const position = start + r;
      for (let i = 0; i < half; i++) {
        const angle = position * this.inverseFrequency[i]!;
        const cos = Math.cos(angle);
        const sin = Math.sin(angle);
        for (let h = 0; h < heads; h++) {
          const at = (r * heads + h) * this.headDim + i;
          const a = x[at]!;
          const b = x[at + half]!;
          x[at] = a * cos - b * sin;
          x[at + half] = a * sin + b * cos;
        }
      }
    }
  }
}

/** out = act(gate) * up (out may be gate). */
export function gatedActivation(kind: "relu2" | "silu", gate: Float32Array, up: Float32Array, out: Float32Array): void {
  floatOps.gatedActivation(kind, gate, up, out);
}
