/**
 * The float operations between the matmuls. Plain loops over Float32Array rows: at the sizes
 * BitNet runs on a CPU these are a few percent of a step, and plain code is easy to check.
 */

/** out[r] = x[r] / rms(x[r]) * weight, for `rows` rows of weight.length values. */
export function rmsNorm(x: Float32Array, weight: Float32Array, rows: number, eps: number, out: Float32Array): void {
  const n = weight.length;
  // indices stay inside the arrays by construction; `!` keeps these hot loops free of checks
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = x[o + i]!;
      sum += v * v;
    }
    const inv = 1 / Math.sqrt(sum / n + eps);
    for (let i = 0; i < n; i++) out[o + i] = x[o + i]! * inv * weight[i]!;
  }
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

/** out = act(gate) * up (out may be gate). One loop per activation: no branch on the kind inside. */
export function gatedActivation(kind: "relu2" | "silu", gate: Float32Array, up: Float32Array, out: Float32Array): void {
  const n = gate.length;
  if (kind === "relu2") {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      out[i] = g > 0 ? g * g * up[i]! : 0;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
    }
  }
}
