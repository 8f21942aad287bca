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
  /** [position][ropeDim/2][cos, sin] for positions 0..known-1, grown as later positions are asked for */
  private table = new Float64Array(0);
  private known = 0;

  constructor(
    private readonly headDim: number,
    ropeDim: number,
    base: number,
  ) {
    this.inverseFrequency = Float64Array.from({ length: ropeDim / 2 }, (_, i) => base ** ((-2 * i) / ropeDim));
  }

  /**
   * cos and sin of every rotation angle for rows at `positions`: [row][ropeDim/2][cos, sin], shared by
   * every layer's queries and keys. A position's values are computed once (Math.cos and Math.sin of
   * position x inverse frequency) and copied from a table after that: at batch 8 the transcendental
   * calls were most of a decode step's embedding time.
   */
  angles(positions: readonly number[]): Float64Array {
    const width = this.inverseFrequency.length * 2;
    let highest = -1;
    for (const p of positions) highest = Math.max(highest, p);
    this.extendTo(highest + 1);
    const out = new Float64Array(positions.length * width);
    const table = this.table;
    for (let r = 0; r < positions.length; r++) {
      const from = positions[r]! * width;
      for (let i = 0; i < width; i++) out[r * width + i] = table[from + i]!;
    }
    return out;
  }

  private extendTo(count: number): void {
    if (count <= this.known) return;
    const half = this.inverseFrequency.length;
    if (count * half * 2 > this.table.length) {
      const grown = new Float64Array(Math.max(count, 2 * this.known, 64) * half * 2);
      grown.set(this.table.subarray(0, this.known * half * 2));
      this.table = grown;
    }
    for (let position = this.known; position < count; position++) {
      for (let i = 0; i < half; i++) {
        const angle = position * this.inverseFrequency[i]!;
        this.table[(position * half + i) * 2] = Math.cos(angle);
        this.table[(position * half + i) * 2 + 1] = Math.sin(angle);
      }
    }
    this.known = count;
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
