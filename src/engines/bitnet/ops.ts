/**
 * The float operations between the matmuls. RMSNorm and the gated activation are native
 * (`floatOps`, kernels/src/floatops.c): as JS loops they were ~7% of a 2B-4T decode token on one
 * core; natively they are a few microseconds and give the same bits on every CPU. RoPE's cos/sin
 * are computed here once a step (Math.cos/sin, as before) and applied natively to every row.
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

  /**
   * cos and sin of every rotation angle for rows at `positions`: [row][ropeDim/2][cos, sin], computed
   * once a step and shared by every layer's queries and keys.
   */
  angles(positions: readonly number[]): Float64Array {
    const half = this.inverseFrequency.length;
    const out = new Float64Array(positions.length * half * 2);
    positions.forEach((position, r) => {
      for (let i = 0; i < half; i++) {
        const angle = position * this.inverseFrequency[i]!;
        out[(r * half + i) * 2] = Math.cos(angle);
        out[(r * half + i) * 2 + 1] = Math.sin(angle);
      }
    });
    return out;
  }

  /** Rotates `rows` rows of `heads` heads in place, row r by its angles from `angles`. */
  apply(x: Float32Array, rows: number, heads: number, angles: Float64Array): void {
    floatOps.rope(x, rows, heads, this.headDim, angles);
  }
}

/** out = act(gate) * up (out may be gate). */
export function gatedActivation(kind: "relu2" | "silu", gate: Float32Array, up: Float32Array, out: Float32Array): void {
  floatOps.gatedActivation(kind, gate, up, out);
}
