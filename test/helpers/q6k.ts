/**
 * Q6_K blocks packed in TypeScript from chosen 6-bit codes, scales and d, following ggml's
 * block_q6_K (ql[128] low nibbles, qh[64] high bit pairs, int8 scales[16], fp16 d; value
 * (d * scale) * (q - 32)): an independent reading to check the kernels' against.
 */
import type { PackedWeight } from "../../kernels/index.js";
import { randomInt, rng } from "./random.js";

const BLOCK = 256;
const BLOCK_BYTES = 210;
/** fp16 bits of scales that are exact in fp16 and fp32 */
const D_BITS = [0x1400, 0x1a00, 0x2000, 0x9c00];

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  return sign * (1 + (bits & 0x3ff) / 1024) * 2 ** (exp - 15);
}

interface Q6Block {
  codes: number[]; // 256 values 0..63
  scales: number[]; // 16 int8
  dBits: number;
}

function packBlock(b: Q6Block, out: Uint8Array, at: number): void {
  for (let h = 0; h < 2; h++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const q = b.codes[128 * h + 32 * j + l] ?? 0;
        const ql = at + 64 * h + l + 32 * (j & 1);
        out[ql] = (out[ql] ?? 0) | ((q & 0xf) << (j < 2 ? 0 : 4));
        const qh = at + 128 + 32 * h + l;
        out[qh] = (out[qh] ?? 0) | ((q >> 4) << (2 * j));
      }
    }
  }
  b.scales.forEach((s, i) => {
    out[at + 192 + i] = s & 0xff;
  });
  out[at + 208] = b.dBits & 0xff;
  out[at + 209] = b.dBits >> 8;
}

/** What each value must read back as: (d * scale) * (q - 32) in fp32, ggml's order. */
function expectedValue(b: Q6Block, i: number): number {
  const scale = Math.fround(halfToFloat(b.dBits) * (b.scales[Math.floor(i / 16)] ?? 0));
  return Math.fround(scale * ((b.codes[i] ?? 0) - 32));
}

export function randomQ6K(rows: number, cols: number, seed: number): { weight: PackedWeight; values: Float32Array } {
  const random = rng(seed);
  const blocksPerRow = cols / BLOCK;
  const data = new Uint8Array(rows * blocksPerRow * BLOCK_BYTES);
  const values = new Float32Array(rows * cols);
  for (let b = 0; b < rows * blocksPerRow; b++) {
    const block: Q6Block = {
      codes: Array.from({ length: BLOCK }, () => randomInt(random, 0, 63)),
      scales: Array.from({ length: 16 }, () => randomInt(random, -128, 127)),
      dBits: D_BITS[randomInt(random, 0, D_BITS.length - 1)] ?? 0x1400,
    };
    packBlock(block, data, b * BLOCK_BYTES);
    for (let i = 0; i < BLOCK; i++) values[b * BLOCK + i] = expectedValue(block, i);
  }
  return { weight: { type: "Q6_K", rows, cols, data }, values };
}
