/** Tensor transforms shared by the converters: Q/K row permutation for RoPE and weight packing. */
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
 * Where each Q/K row of a model trained with consecutive-pair RoPE (2i with 2i+1) goes so that
 * NeoX RoPE (i with i + R/2, the convention of every bitnet architecture) computes the same
 * network: inside each head, new row i = old row 2i and new row i + R/2 = old row 2i + 1 for
 * i < R/2, where R is the rotated size (the head size unless the rope is partial); rows past R
 * stay. Returns, for every new row, the old row it takes. Attention scores are unchanged because
 * q and k move by the same permutation and their dot product runs over the whole head.
 */
export function pairsToNeoXRowSource(heads: number, headDim: number, ropeDim = headDim): Int32Array {
  const whole = (n: number) => Number.isInteger(n) && n > 0;
  if (!whole(heads) || !whole(headDim) || !whole(ropeDim) || ropeDim % 2 !== 0 || ropeDim > headDim) {
    throw new RangeError(
      `rope row permutation: needs whole heads and an even rotated size within the head, got ${heads} heads of ${headDim}, rope ${ropeDim}`,
    );
  }
  const half = ropeDim / 2;
  const source = Int32Array.from({ length: heads * headDim }, (_, r) => r);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      source[h * headDim + i] = h * headDim + 2 * i;
      source[h * headDim + half + i] = h * headDim + 2 * i + 1;
    }
  }
  return source;
}

/** Rows of `rowLength` elements reordered: out row r = in row source[r]. */
export function permuteRows<T extends Float32Array | Uint8Array>(data: T, source: Int32Array, rowLength: number): T {
  if (data.length !== source.length * rowLength) {
    throw new RangeError(`row permutation: ${data.length} elements are not ${source.length} rows of ${rowLength}`);
  }
  const out = data.slice() as T;
  source.forEach((from, to) => {
    out.set(data.subarray(from * rowLength, (from + 1) * rowLength), to * rowLength);
  });
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
