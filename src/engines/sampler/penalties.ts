/** Logit bias and repetition / frequency / presence penalties, applied in place to the few tokens they touch. */

import { MAX_LOGIT } from "./logprobs.js";

export interface PenaltyConfig {
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  /** most recent history tokens considered; -1 = all */
  window: number;
}

export function hasPenalties(c: PenaltyConfig): boolean {
  return c.window !== 0 && (c.repetitionPenalty !== 1 || c.frequencyPenalty !== 0 || c.presencePenalty !== 0);
}

// a repetition penalty below 1 can push a huge logit past the double range; keep it finite
function clampHigh(v: number): number {
  return Math.min(v, MAX_LOGIT);
}

/** Adds bias to x[id] for each pair. Ids must already be known to lie inside x. Returns whether x changed. */
export function applyLogitBias(x: Float64Array, bias: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [id, b] of bias) x[id] = clampHigh(x[id]! + b);
  return bias.length > 0;
}

/**
 * Applies the penalties to every distinct token in the history window, each once however often it occurs
 * (only the frequency term scales with the count). Repetition first, as llama.cpp does: it divides positive
 * logits and multiplies negative ones so the token always becomes less likely. Ids outside [0, n) are
 * ignored: they have no logit to penalise. `counts` is scratch space, cleared here. Returns whether x changed.
 */
export function applyPenalties(
  x: Float64Array,
  n: number,
  history: readonly number[],
  c: PenaltyConfig,
  counts: Map<number, number>,
): boolean {
  if (!hasPenalties(c)) return false;
  counts.clear();
  const from = c.window < 0 ? 0 : Math.max(0, history.length - c.window);
  for (let i = from; i < history.length; i++) {
    const id = history[i]!;
    if (Number.isInteger(id) && id >= 0 && id < n) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, count] of counts) {
    let v = x[id]!;
    if (c.repetitionPenalty !== 1) v = v > 0 ? v / c.repetitionPenalty : v * c.repetitionPenalty;
    v -= c.frequencyPenalty * count + c.presencePenalty;
    x[id] = clampHigh(v);
  }
  return counts.size > 0;
}
