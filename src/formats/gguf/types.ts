/**
 * GGUF's vocabulary: metadata value types and tensor types with their storage geometry.
 * Ids are ggml's (and bitnet.cpp's for I2_S), so files written by llama.cpp read as-is.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type ids, in the file's numbering. */
export const VALUE_TYPE_IDS = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type NumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type BigIntType = "u64" | "i64";
export type ScalarType = NumberType | BigIntType | "bool" | "string";

export type GGUFValue =
  | { readonly type: NumberType; readonly value: number }
  | { readonly type: BigIntType; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "array"; readonly itemType: NumberType; readonly value: readonly number[] }
  | { readonly type: "array"; readonly itemType: BigIntType; readonly value: readonly bigint[] }
  | { readonly type: "array"; readonly itemType: "bool"; readonly value: readonly boolean[] }
  | { readonly type: "array"; readonly itemType: "string"; readonly value: readonly string[] };

/** Tensor types this project reads and writes. */
export const TENSOR_TYPES = {
  F32: { id: 0, block: 1, blockBytes: 4 },
  F16: { id: 1, block: 1, blockBytes: 2 },
  Q8_0: { id: 8, block: 32, blockBytes: 34 },
  Q6_K: { id: 14, block: 256, blockBytes: 210 },
  BF16: { id: 30, block: 1, blockBytes: 2 },
  TQ1_0: { id: 34, block: 256, blockBytes: 54 },
  TQ2_0: { id: 35, block: 256, blockBytes: 66 },
  I2_S: { id: 36, block: 128, blockBytes: 32 },
} as const;

export type TensorType = keyof typeof TENSOR_TYPES;

const TYPE_BY_ID = new Map<number, TensorType>(
  Object.entries(TENSOR_TYPES).map(([name, t]) => [t.id, name as TensorType]),
);

export function tensorTypeById(id: number): TensorType | undefined {
  return TYPE_BY_ID.get(id);
}

/**
 * Bytes a tensor of this type and shape occupies (dims fastest first, as GGUF stores them).
 * Returns a message instead when the shape does not fit the type's blocks.
 * I2_S keeps its data, then one f32 scale, then padding: elements / 4 + 32 bytes.
 */
export function tensorByteSize(type: TensorType, dims: readonly number[]): number | string {
  const info = TENSOR_TYPES[type];
  const row = dims[0] ?? 1;
  const elements = dims.reduce((a, b) => a * b, 1);
  if (row % info.block !== 0) return `${type} needs its first dimension to be a multiple of ${info.block}, got ${row}`;
  if (type === "I2_S") return elements / 4 + 32;
  return (elements / info.block) * info.blockBytes;
}
