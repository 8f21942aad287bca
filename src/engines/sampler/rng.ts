/** Deterministic PRNG for sampling: xoshiro128** with its 128-bit state filled by a splitmix-style mixer. */

import { getRandomValues } from "node:crypto";

const GOLDEN = 0x9e3779b9;
const TWO_POW_32 = 2 ** 32;

// murmur3's finaliser: a bijection on 32 bits, so distinct counters give distinct state words
function mix32(z: number): number {
  let h = z | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A fresh seed from the OS CSPRNG, for requests that did not ask for reproducibility. */
export function randomSeed(): number {
  const words = getRandomValues(new Uint32Array(2));
  // 53 bits so the value is a safe integer that can be echoed back and reused
  return (words[0]! & 0x1fffff) * TWO_POW_32 + words[1]!;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Any safe integer (negative included) is a valid seed; both 32-bit halves reach the state. */
  constructor(seed: number) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.s0 = mix32(lo + GOLDEN);
    this.s1 = mix32(lo + 2 * GOLDEN);
    this.s2 = mix32(hi ^ mix32(lo + 3 * GOLDEN));
    this.s3 = mix32(hi + 4 * GOLDEN);
    // xoshiro's one forbidden state; the mixer makes it practically unreachable, but cheap to rule out
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned output. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits, so tiny probabilities are still reachable. */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}
