/**
 * IEEE 754 binary16 written out in plain arithmetic, to check the kernels' fp16 against something that
 * shares no code with them: a float32's nearest half (ties to even), and a half's exact value.
 */

function roundHalfToEven(y: number): number {
  const floor = Math.floor(y);
  const rest = y - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The bits of the half nearest to Math.fround(x): overflow to infinity, subnormals kept, NaN as 0x7e00. */
export function halfBits(x: number): number {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  // 65520 is halfway between the largest half (65504) and the next step: it and above round to infinity
  if (a >= 65520) return sign | 0x7c00;
  // subnormal halves step by 2^-24; a count of 1024 is the smallest normal, whose bits are the same number
  if (a < 2 ** -14) return sign | roundHalfToEven(a / 2 ** -24);
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent--;
  if (2 ** (exponent + 1) <= a) exponent++;
  let mantissa = roundHalfToEven(a / 2 ** (exponent - 10));
  if (mantissa === 2048) {
    exponent++;
    mantissa = 1024;
  }
  return sign | ((exponent + 15) << 10) | (mantissa - 1024);
}

/** The exact value of a half's bits. */
export function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Every value rounded to its nearest half, as a float array. */
export function roundedToHalf(x: Float32Array): Float32Array {
  return x.map((v) => halfValue(halfBits(v)));
}
