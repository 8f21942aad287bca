/**
 * The open-loop schedule: arrivals at fixed offsets from the start (i / rate seconds), each with its
 * prompt and streaming choice decided up front from the profile's seed. Nothing here waits for a
 * response, so a slow gateway meets the same arrivals as a fast one.
 */
import { seededRandom } from "../src/util/seeded-random.js";
import type { Prompt } from "./scenarios.js";

export interface Arrival {
  /** ms after the run's start */
  readonly offsetMs: number;
  readonly prompt: Prompt;
  readonly stream: boolean;
}

/** Offsets (ms) of `⌊rate · duration⌋` arrivals, evenly spaced from 0. */
export function arrivalOffsets(ratePerSecond: number, durationSeconds: number): number[] {
  // the epsilon keeps 0.2 × 30 (6.000000000000001 or 5.999…) at 6
  const count = Math.floor(ratePerSecond * durationSeconds + 1e-9);
  return Array.from({ length: count }, (_, i) => (i * 1000) / ratePerSecond);
}

/** The prompt whose cumulative weight first exceeds `u · total` (u in [0, 1)). */
export function pickWeighted(prompts: readonly Prompt[], u: number): Prompt {
  const total = prompts.reduce((sum, p) => sum + p.weight, 0);
  let at = u * total;
  for (const prompt of prompts) {
    if (at < prompt.weight) return prompt;
    at -= prompt.weight;
  }
  return prompts[prompts.length - 1]!;
}

/** One tier's arrivals; `seed` and the tier's index make each tier's mix independent and repeatable. */
export function planArrivals(
  load: { readonly ratePerSecond: number; readonly streamingShare: number },
  prompts: readonly Prompt[],
  durationSeconds: number,
  seed: number,
): Arrival[] {
  const random = seededRandom(seed);
  return arrivalOffsets(load.ratePerSecond, durationSeconds).map((offsetMs) => ({
    offsetMs,
    prompt: pickWeighted(prompts, random()),
    stream: random() < load.streamingShare,
  }));
}

/** k6's constant-arrival-rate takes an integer `rate` per `timeUnit`: the shortest whole-second unit
 * that makes the rate whole (0.2/s → 1 per 5 s, 1.8/s → 9 per 5 s). */
export function k6Rate(ratePerSecond: number): { readonly rate: number; readonly timeUnit: string } {
  for (let seconds = 1; seconds <= 3600; seconds++) {
    const rate = ratePerSecond * seconds;
    if (Math.abs(rate - Math.round(rate)) < 1e-9 && Math.round(rate) > 0)
      return { rate: Math.round(rate), timeUnit: `${seconds}s` };
  }
  throw new Error(`k6Rate: ${ratePerSecond}/s is not a whole number of arrivals per any unit up to an hour`);
}
