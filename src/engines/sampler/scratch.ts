/** Per-thread scratch buffers for sampling, shared by every Sampler over the same vocabulary size. */

import { Candidates } from "./select.js";

/**
 * sample() is synchronous, so within one thread only one call can be using these at a time. Sharing them
 * keeps a Sampler per request cheap (no 4-5 MB of buffers per concurrent request on a 128k vocabulary).
 * Each worker thread has its own module instance and so its own buffers.
 */
export interface Scratch {
  /** clean raw logits, then the same with bias and penalties applied */
  readonly x: Float64Array;
  /** exp(x - max) per token id */
  readonly w: Float64Array;
  readonly candidates: Candidates;
  /** the native row pass's [max, argmax, sumExp] (kernels' logitStats) */
  readonly stats: Float64Array;
}

const byVocabSize = new Map<number, Scratch>();

export function scratchFor(vocabSize: number): Scratch {
  let s = byVocabSize.get(vocabSize);
  if (s === undefined) {
    s = {
      x: new Float64Array(vocabSize),
      w: new Float64Array(vocabSize),
      candidates: new Candidates(vocabSize),
      stats: new Float64Array(3),
    };
    byVocabSize.set(vocabSize, s);
  }
  return s;
}
