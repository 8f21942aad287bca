/**
 * An independent TypeScript reading of the weight formats and of the int8 ternary matmul,
 * written from the published format descriptions (ggml's block layouts), not from the C code. Tests use
 * it to check the scalar C reference, which in turn checks every SIMD path.
 */
import type { PackedWeight } from "../../kernels/index.js";

const f32 = Math.fround;

export function fp16ToFp32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** Trit i of a base-3 packed byte (t0 most significant): ((uint8)(b * 3^i) * 3) >> 8. */
function trit(byte: number, i: number): number {
  return (((byte * 3 ** i) & 0xff) * 3) >> 8;
}

/** One packed row as codes {0,1,2} plus, per block, its scale's fp16 bits (I2_S: none). */
export interface DecodedRow {
  codes: Uint8Array;
  blockScaleBits: number[];
}

export function decodeRow(weight: PackedWeight, row: number): DecodedRow {
  const k = weight.cols;
  const codes = new Uint8Array(k);
  const bits: number[] = [];
  const d = weight.data;
  if (weight.type === "TQ2_0") {
    const rowBytes = (k / 256) * 66;
    for (let b = 0; b < k / 256; b++) {
      const base = row * rowBytes + b * 66;
      for (let h = 0; h < 2; h++)
        for (let n = 0; n < 4; n++)
          for (let m = 0; m < 32; m++)
            codes[b * 256 + 128 * h + 32 * n + m] = ((d[base + 32 * h + m] ?? 0) >> (2 * n)) & 3;
      bits.push((d[base + 64] ?? 0) | ((d[base + 65] ?? 0) << 8));
    }
  } else if (weight.type === "TQ1_0") {
    const rowBytes = (k / 256) * 54;
    for (let b = 0; b < k / 256; b++) {
      const base = row * rowBytes + b * 54;
      const at = (i: number) => d[base + i] ?? 0;
      for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++) codes[b * 256 + 32 * n + m] = trit(at(m), n);
      for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++) codes[b * 256 + 160 + 16 * n + m] = trit(at(32 + m), n);
      for (let n = 0; n < 4; n++) for (let m = 0; m < 4; m++) codes[b * 256 + 240 + 4 * n + m] = trit(at(48 + m), n);
      bits.push(at(52) | (at(53) << 8));
    }
  } else if (weight.type === "I2_S") {
    const base = row * (k / 4);
    for (let j = 0; j < k; j++) {
      const blk = Math.floor(j / 128);
      const within = j % 128;
      codes[j] = ((d[base + blk * 32 + (within % 32)] ?? 0) >> (6 - 2 * Math.floor(within / 32))) & 3;
    }
  } else {
    throw new Error(`not a ternary type: ${weight.type}`);
  }
  return { codes, blockScaleBits: bits };
}

export function i2sTensorScale(weight: PackedWeight): number {
  const view = new DataView(weight.data.buffer, weight.data.byteOffset, weight.data.byteLength);
  return view.getFloat32((weight.rows * weight.cols) / 4, true);
}

/** Round half to even, as lrintf does under the default rounding mode. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeActivationsRef(x: Float32Array, m: number, k: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(m * k);
  const scale = new Float32Array(m);
  for (let r = 0; r < m; r++) {
    let amax = 0;
    for (let j = 0; j < k; j++) amax = Math.max(amax, Math.abs(x[r * k + j] ?? 0));
    if (amax === 0) continue;
    const iscale = f32(127 / amax);
    for (let j = 0; j < k; j++) q[r * k + j] = Math.max(-127, Math.min(127, rint(f32((x[r * k + j] ?? 0) * iscale))));
    scale[r] = f32(amax / 127);
  }
  return { q, scale };
}

/** BitNet int8 matmul with the contract's segment rule, every float op rounded to fp32. */
export function matmulInt8Ref(weight: PackedWeight, x: Float32Array, m: number): Float32Array {
  const { rows: n, cols: k } = weight;
  const { q, scale } = quantizeActivationsRef(x, m, k);
  const y = new Float32Array(m * n);
  const block = weight.type === "I2_S" ? k : 256;
  const tensorScale = weight.type === "I2_S" ? i2sTensorScale(weight) : 0;
  for (let row = 0; row < n; row++) {
    const { codes, blockScaleBits } = decodeRow(weight, row);
    for (let r = 0; r < m; r++) {
      let acc = 0;
      let isum = 0;
      for (let b = 0; b < k / block; b++) {
        for (let j = b * block; j < (b + 1) * block; j++) isum += ((codes[j] ?? 0) - 1) * (q[r * k + j] ?? 0);
        const last = b === k / block - 1;
        const bitsNow = blockScaleBits[b];
        if (last || blockScaleBits[b + 1] !== bitsNow) {
          const d = weight.type === "I2_S" ? tensorScale : fp16ToFp32(bitsNow ?? 0);
          acc = f32(acc + f32(d * isum));
          isum = 0;
        }
      }
      y[r * n + row] = f32(acc * (scale[r] ?? 0));
    }
  }
  return y;
}

/** Float64 product of the dequantized weights and float activations. */
export function matmulFloatRef(weights: Float32Array, n: number, k: number, x: Float32Array, m: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let r = 0; r < m; r++)
    for (let row = 0; row < n; row++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += (weights[row * k + j] ?? 0) * (x[r * k + j] ?? 0);
      y[r * n + row] = s;
    }
  return y;
}
