/** Tensor transforms shared by the converters: rope row permutation and weight packing. */
import { dequantize, quantize, type WeightType } from "../../kernels/index.js";

export const TERNARY_TARGETS = ["TQ2_0", "TQ1_0", "I2_S"] as const;
export type TernaryTarget = (typeof TERNARY_TARGETS)[number];
export const EMBEDDING_TARGETS = ["F16", "F32", "Q8_0"] as const;
export type EmbeddingTarget = (typeof EMBEDDING_TARGETS)[number];
/** Types `convert --head-type` writes the output head as. */
export const HEAD_TARGETS = ["Q8_0", "F16", "F32"] as const;
export type HeadTarget = (typeof HEAD_TARGETS)[number];

/** Elements per block along a row for each packed type. */
const ROW_BLOCK: Readonly<Record<WeightType, number>> = {
  F32: 1,
  F16: 1,
  Q8_0: 32,
  Q6_K: 256,
  TQ1_0: 256,
  TQ2_0: 256,
  I2_S: 128,
};

/** Why a [rows x cols] matrix cannot be packed as `type`, or undefined when it can. */
export function packProblem(type: WeightType, cols: number): string | undefined {
  const block = ROW_BLOCK[type];
  return cols % block === 0 ? undefined : `${type} needs rows of a multiple of ${block} values, these have ${cols}`;
}

/**
 * Hugging Face's rotary embedding pairs value i with i + D/2 inside each head (rotate_half);
 * our engine pairs 2i with 2i+1 (llama's "normal" rope). Reordering the rows of q_proj / k_proj
 * per head, new row h*D + 2i + j = old row h*D + j*(D/2) + i, makes the two agree.
 */
export function permuteRopeRows(values: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  if (values.length !== heads * headDim * cols) {
    throw new Error(`rope permutation: ${values.length} values are not ${heads} heads x ${headDim} x ${cols}`);
  }
  const half = headDim / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headDim + j * half + i) * cols;
        const to = (h * headDim + 2 * i + j) * cols;
        out.set(values.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** BitNet b1.58 absmean ternarization of the whole tensor, packed as `type`. */
export function packTernary(type: TernaryTarget, values: Float32Array, rows: number, cols: number): Uint8Array {
  return quantize(type, values, rows, cols, { absmean: true }).data;
}

/** Whether every non-zero value has one magnitude: the tensor is already ternarized. */
export function isTernaryValued(values: Float32Array): boolean {
  let magnitude = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i] ?? 0);
    if (a === 0) continue;
    if (magnitude === 0) magnitude = a;
    else if (a !== magnitude) return false;
  }
  return true;
}

/**
 * Packs values that are already ternary-valued without re-scaling them, and checks the packed
 * form decodes to the same values (a per-block scale can round through f16). Returns a message
 * when the target cannot hold them exactly.
 */
export function packAsIs(
  type: TernaryTarget,
  values: Float32Array,
  rows: number,
  cols: number,
): { data: Uint8Array } | { problem: string } {
  const packed = quantize(type, values, rows, cols);
  const back = dequantize(packed);
  for (let i = 0; i < values.length; i++) {
    const want = values[i] ?? 0;
    const got = back[i] ?? 0;
    if (Math.abs(got - want) > Math.abs(want) * 1e-3) {
      return { problem: `value ${i} would change from ${want} to ${got}` };
    }
  }
  return { data: packed.data };
}
