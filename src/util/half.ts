/**
 * IEEE 754 binary16 and bfloat16 to and from JS numbers: the one implementation for GGUF and
 * safetensors tensors, ONNX initializers and float16 outputs (ORT hands those over as Uint16Array).
 */

let halfTable: Float32Array | undefined;

/** Every one of the 65536 half bit patterns as a float32 (256 KiB, built once). */
function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = halfBitsToNumber(bits);
  return table;
}

/** One half-precision bit pattern as a JS number (exact). */
export function halfBitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Half bits → float32 values, `count` of them from `offset`. */
export function halfBitsToFloat32(bits: Uint16Array, offset = 0, count = bits.length - offset): Float32Array {
  halfTable ??= buildHalfTable();
  const table = halfTable;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[bits[offset + i] as number] as number;
  return out;
}

/** Round-to-nearest-even float → half bits (overflow → ±Inf, NaN kept). */
export function numberToHalfBits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  let a = Math.abs(Math.fround(value));
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24, ties to even
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(a));
  // log2 can be off by one at exact powers of two
  if (2 ** exponent > a) exponent--;
  else if (2 ** (exponent + 1) <= a) exponent++;
  a = a / 2 ** exponent - 1;
  let mantissa = roundHalfEven(a * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent++;
  }
  if (exponent + 15 >= 0x1f) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | mantissa;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function float32ToHalfBits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToHalfBits(values[i] as number);
  return out;
}

/** Little-endian float16 bytes as float32 values (a fresh array). */
export function halfBytesToFloat32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  halfTable ??= buildHalfTable();
  const table = halfTable;
  const out = new Float32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)] as number;
  return out;
}

/** Little-endian bfloat16 bytes as float32 values (a fresh array): bf16 is the top half of fp32. */
export function bf16BytesToFloat32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bits = new Uint32Array(bytes.byteLength / 2);
  for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  return new Float32Array(bits.buffer);
}
