/** Element types of safetensors files and the float conversions the converter needs. */
import { bf16BytesToFloat32, halfBytesToFloat32 } from "../../util/half.js";

/** Bytes per element of every dtype the safetensors format defines. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
};

/** The dtypes tritgate reads as floats. */
export const FLOAT_DTYPES = ["F32", "F16", "BF16"] as const;
export type FloatDType = (typeof FLOAT_DTYPES)[number];

export function isFloatDType(dtype: string): dtype is FloatDType {
  return (FLOAT_DTYPES as readonly string[]).includes(dtype);
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Little-endian F32, F16 or BF16 bytes as fp32 values (a fresh array). */
export function toFloat32(dtype: FloatDType, bytes: Uint8Array): Float32Array {
  if (dtype === "F32") {
    if (LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  return dtype === "BF16" ? bf16BytesToFloat32(bytes) : halfBytesToFloat32(bytes);
}

/** fp32 to bfloat16 bits, rounding to nearest even (NaN stays NaN). */
export function floatToBF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i] ?? 0;
    if ((x & 0x7fffffff) > 0x7f800000) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
