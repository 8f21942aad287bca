/** Seeded pseudo-random data for tests: same seed, same numbers, on every machine. */
export { randomFloats, seededRandom as rng } from "../../src/util/seeded-random.js";

export function randomInt(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}
