/** The model's own distribution: sanitised raw logits, their log-partition, and the top alternatives. */

import { expNonPositive } from "./fastexp.js";
import type { TokenLogprob } from "./params.js";

/**
 * +Infinity becomes the largest finite double so that (x - max) stays a number: an infinite logit then
 * wins every softmax outright instead of producing NaN through Infinity - Infinity.
 */
export const MAX_LOGIT = Number.MAX_VALUE;

/** NaN counts as -Infinity (never sampled), +Infinity as MAX_LOGIT. */
export function cleanLogit(v: number): number {
  return Number.isNaN(v) ? Number.NEGATIVE_INFINITY : Math.min(v, MAX_LOGIT);
}

export interface RawStats {
  /** largest clean logit; -Infinity only when no token can be sampled */
  max: number;
  /** lowest id holding `max` */
  argmax: number;
}

/**
 * Copies the first `n` logits into `out` as float64, cleaned, and finds the maximum in the same pass. With
 * sumExpShifted this is the reference for the kernels' `logitStats`, which the Sampler runs instead (one native
 * pass, the same bits: row-pass.test.ts). The usual case (every logit finite or -Infinity) is a bare copy and
 * compare; a +Infinity or NaN anywhere sends the step through the cleaning pass instead, which gives the same
 * result the fast pass gives wherever both apply.
 */
export function loadLogits(logits: Float32Array, n: number, out: Float64Array): RawStats {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = -1;
  let nan = false;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    out[i] = v;
    if (v > max) {
      max = v;
      argmax = i;
    } else if (!(v >= Number.NEGATIVE_INFINITY)) nan = true; // only NaN fails this
  }
  return max > MAX_LOGIT || nan ? loadCleaned(logits, n, out) : { max, argmax };
}

/** loadLogits for logits holding +Infinity or NaN: each is cleaned as cleanLogit does before the compare. */
function loadCleaned(logits: Float32Array, n: number, out: Float64Array): RawStats {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = -1;
  for (let i = 0; i < n; i++) {
    let v = logits[i]!;
    if (v > MAX_LOGIT) v = MAX_LOGIT;
    else if (!(v >= Number.NEGATIVE_INFINITY)) v = Number.NEGATIVE_INFINITY;
    out[i] = v;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  return { max, argmax };
}

/**
 * Fills weights[i] = exp(x[i] - max) for i < n and returns their sum in index order, so that
 * log_softmax(x)[i] = (x[i] - max) - log(result). Keeping the weights lets temperature 1 sampling reuse them.
 * The reference for the kernels' `logitStats` (see loadLogits).
 */
export function sumExpShifted(x: Float64Array, n: number, max: number, weights: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = expNonPositive(x[i]! - max);
    weights[i] = e;
    sum += e;
  }
  return sum;
}

/**
 * The k highest of the clean logits x[0, n), highest first, ties to the lower id, as log-probabilities.
 * One pass with a k-slot insertion buffer: k is at most 20, and most tokens fail the first comparison.
 */
export function topLogprobs(x: Float64Array, n: number, k: number, max: number, logSum: number): TokenLogprob[] {
  const size = Math.min(k, n);
  if (size <= 0) return [];
  const ids = new Int32Array(size);
  const vals = new Float64Array(size);
  let filled = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    // strict > keeps the earlier (lower) id on ties, since ids arrive in increasing order
    if (filled === size && !(v > vals[size - 1]!)) continue;
    let j = filled < size ? filled++ : size - 1;
    while (j > 0 && v > vals[j - 1]!) {
      vals[j] = vals[j - 1]!;
      ids[j] = ids[j - 1]!;
      j--;
    }
    vals[j] = v;
    ids[j] = i;
  }
  const out: TokenLogprob[] = [];
  for (let j = 0; j < size; j++) out.push({ id: ids[j]!, logprob: vals[j]! - max - logSum });
  return out;
}
