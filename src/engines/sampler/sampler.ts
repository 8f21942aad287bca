/** The token sampler shared by the BitNet and ONNX engines. */

import { logitStats } from "../../../kernels/index.js";
import { expNonPositive } from "./fastexp.js";
import { cleanLogit, topLogprobs } from "./logprobs.js";
import {
  type ResolvedSamplingParams,
  resolveSamplingParams,
  type SampledToken,
  type SamplingParams,
  validateSamplingParams,
} from "./params.js";
import { applyLogitBias, applyPenalties, hasPenalties, type PenaltyConfig } from "./penalties.js";
import { Rng, randomSeed } from "./rng.js";
import { scratchFor } from "./scratch.js";
import { argmax, type Candidates, nucleusCut, topKInto } from "./select.js";

/**
 * One Sampler per request: it owns the request's RNG, so a seed reproduces the whole sequence. Scratch
 * buffers are shared per thread (see scratch.ts), so a Sampler itself is small.
 *
 * Per step: logit_bias -> penalties -> greedy if temperature is 0 -> temperature -> top-k -> top-p -> min-p ->
 * renormalise -> draw. The reported log-probabilities are those of the raw logits, before all of that.
 */
export class Sampler {
  /** the seed in use: the requested one, or the random one drawn when none was given */
  readonly seed: number;
  readonly vocabSize: number;
  private readonly params: ResolvedSamplingParams;
  private readonly penalties: PenaltyConfig;
  private readonly rng: Rng;
  private readonly counts = new Map<number, number>();
  /**
   * Whether a step reads the clean logits as float64 (x) beyond their max and log-partition: alternatives,
   * bias, penalties and every draw do; a plain greedy step needs only the statistics, so the row pass
   * writes nothing.
   */
  private readonly readsLogits: boolean;
  /** false: no caller reads the sampled token's logprob, so a plain greedy step skips the log-partition */
  private readonly chosenLogprob: boolean;

  /**
   * Throws a RangeError for invalid params (the validateSamplingParams message), a vocabulary size that is
   * not a positive integer, or a logitBias id outside the vocabulary. `chosenLogprob: false` says nothing
   * reads `SampledToken.logprob`: a greedy step without alternatives, bias or penalties then finds the
   * argmax alone (no exp over the vocabulary) and reports NaN; every other step is unchanged.
   */
  constructor(params: SamplingParams, vocabSize: number, options: { readonly chosenLogprob?: boolean } = {}) {
    const problem = validateSamplingParams(params);
    if (problem !== undefined) throw new RangeError(problem);
    if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
      throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    this.params = resolveSamplingParams(params);
    for (const [id] of this.params.logitBias) {
      if (id >= vocabSize) throw new RangeError(`logitBias token id ${id} is outside the vocabulary (${vocabSize})`);
    }
    this.vocabSize = vocabSize;
    this.penalties = {
      repetitionPenalty: this.params.repetitionPenalty,
      frequencyPenalty: this.params.frequencyPenalty,
      presencePenalty: this.params.presencePenalty,
      window: this.params.penaltyWindow,
    };
    this.readsLogits =
      this.params.temperature > 0 ||
      this.params.topLogprobs > 0 ||
      this.params.logitBias.length > 0 ||
      hasPenalties(this.penalties);
    this.chosenLogprob = options.chosenLogprob !== false;
    this.seed = this.params.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
  }

  /**
   * history = prompt + generated ids so far (penalties look at its tail). Does not modify logits.
   * Logits beyond vocabSize are ignored: some exported models pad the output layer past the tokenizer's
   * vocabulary, and those slots are never real tokens.
   */
  sample(logits: Float32Array, history: readonly number[]): SampledToken {
    const n = this.vocabSize;
    if (logits.length < n) throw new RangeError(`sampler got ${logits.length} logits for a vocabulary of ${n}`);
    const { x, w, stats } = scratchFor(n);
    // one native pass: max, lowest argmax and the log-partition's sum, bit for bit the JS loadLogits and
    // sumExpShifted (logprobs.ts); the exp weights are only kept for draws (temperature 1 reuses them)
    const needsSum = this.readsLogits || this.chosenLogprob;
    logitStats(logits, n, stats, this.readsLogits ? x : null, this.params.temperature > 0 ? w : null, needsSum);
    const rawMax = stats[0]!;
    if (rawMax === Number.NEGATIVE_INFINITY) {
      throw new Error("sampler: every logit is -Infinity or NaN, so no token can be sampled");
    }
    const rawSum = stats[2]!;
    const logSum = Math.log(rawSum);
    // before bias and penalties overwrite x: alternatives are reported from the model's own distribution
    const top = this.params.topLogprobs > 0 ? topLogprobs(x, n, this.params.topLogprobs, rawMax, logSum) : [];

    const biased = applyLogitBias(x, this.params.logitBias);
    const penalised = applyPenalties(x, n, history, this.penalties, this.counts);
    const modified = biased || penalised;
    const best = modified ? argmax(x, n) : stats[1]!;
    if (modified && x[best] === Number.NEGATIVE_INFINITY) {
      // only reachable through absurd repetition penalties on a vocabulary the history fully covers
      throw new Error("sampler: penalties left every logit at -Infinity, so no token can be sampled");
    }

    let id = best;
    if (this.params.temperature > 0) {
      const { topK, topP, minP } = this.params;
      const truncated = (topK > 0 && topK < n) || topP < 1 || minP > 0;
      id = truncated ? this.drawTruncated(x[best]!, modified, rawSum) : this.drawFull(x[best]!, modified, rawSum);
    }
    return { id, logprob: cleanLogit(logits[id]!) - rawMax - logSum, top };
  }

  /** Draw over the whole vocabulary: no candidate list, just the per-id weights. */
  private drawFull(max: number, modified: boolean, rawSum: number): number {
    const n = this.vocabSize;
    const { w } = scratchFor(n);
    const total = this.weighAll(max, modified, rawSum);
    const target = this.rng.nextFloat() * total;
    let acc = 0;
    let chosen = -1;
    for (let i = 0; i < n; i++) {
      const weight = w[i]!;
      if (weight <= 0) continue;
      chosen = i;
      acc += weight;
      if (acc > target) break;
    }
    return chosen;
  }

  /** Temperature, top-k, top-p, min-p and the draw over a candidate list. `max` is the largest adjusted logit. */
  private drawTruncated(max: number, modified: boolean, rawSum: number): number {
    const { temperature: t, topK, topP, minP } = this.params;
    const n = this.vocabSize;
    const { x, candidates: c } = scratchFor(n);
    const invT = 1 / t;

    if (topK > 0 && topK < n) {
      topKInto(x, n, topK, c);
      let total = 0;
      for (let j = 0; j < c.count; j++) {
        const e = expNonPositive((c.keys[j]! - max) * invT);
        c.weights[j] = e;
        total += e;
      }
      if (topP < 1) c.count = nucleusCut(c, topP * total);
    } else if (topP < 1) {
      const total = this.weighAll(max, modified, rawSum);
      this.gatherNucleusCandidates(c, total);
      c.count = nucleusCut(c, topP * total);
    } else {
      this.gatherMinPCandidates(c, max);
    }

    if (minP > 0) {
      // weights are relative to the most likely token (its weight is exactly 1): this is p < minP * p_max
      keepAtLeast(c, minP);
    }

    let total = 0;
    for (let j = 0; j < c.count; j++) total += c.weights[j]!;
    const target = this.rng.nextFloat() * total;
    let acc = 0;
    let chosen = -1;
    for (let j = 0; j < c.count; j++) {
      const weight = c.weights[j]!;
      if (weight <= 0) continue;
      chosen = c.ids[j]!;
      acc += weight;
      if (acc > target) break;
    }
    // the most likely token survives every truncation with weight 1, so chosen is always set
    return chosen;
  }

  /**
   * Fills the per-id weights w[i] = exp((x[i] - max) / T) for the whole vocabulary and returns their sum. At
   * temperature 1 with nothing adjusted, the log-partition pass already left exactly these in w.
   */
  private weighAll(max: number, modified: boolean, rawSum: number): number {
    const t = this.params.temperature;
    if (t === 1 && !modified) return rawSum;
    const n = this.vocabSize;
    const { x, w } = scratchFor(n);
    const invT = 1 / t;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = expNonPositive((x[i]! - max) * invT);
      w[i] = e;
      total += e;
    }
    return total;
  }

  /**
   * Top-p without top-k: collects only the tokens that can be in the nucleus. A token of weight v has at most
   * n tokens at or behind it, so the mass ahead of it is at least total - n * v; once that reaches
   * topP * total the nucleus is complete before it. Skipping those (with a factor 2 of slack against rounding)
   * typically leaves a few hundred of 128k tokens for nucleusCut.
   */
  private gatherNucleusCandidates(c: Candidates, total: number): void {
    const n = this.vocabSize;
    const { x, w } = scratchFor(n);
    const bound = (0.5 * (1 - this.params.topP) * total) / n;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const weight = w[i]!;
      if (!(weight > bound)) continue;
      c.ids[count] = i;
      c.keys[count] = x[i]!;
      c.weights[count] = weight;
      count++;
    }
    c.count = count;
  }

  /**
   * Min-p alone: tokens below minP * p_max are skipped before their exp is even taken, which on a peaked
   * distribution is nearly all of them. Half a nat of slack keeps rounding from pre-dropping a token whose
   * weight is exactly at minP; the exact test is keepAtLeast afterwards.
   */
  private gatherMinPCandidates(c: Candidates, max: number): void {
    const { temperature: t, minP } = this.params;
    const n = this.vocabSize;
    const { x } = scratchFor(n);
    const invT = 1 / t;
    const floor = minP > 0 ? max + t * (Math.log(minP) - 0.5) : Number.NEGATIVE_INFINITY;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      if (v < floor) continue;
      c.ids[count] = i;
      c.keys[count] = v;
      c.weights[count] = expNonPositive((v - max) * invT);
      count++;
    }
    c.count = count;
  }
}

/** Keeps the candidates whose weight is at least `min`, preserving their order. */
function keepAtLeast(c: Candidates, min: number): void {
  let kept = 0;
  for (let j = 0; j < c.count; j++) {
    const weight = c.weights[j]!;
    if (weight < min) continue;
    c.ids[kept] = c.ids[j]!;
    c.keys[kept] = c.keys[j]!;
    c.weights[kept] = weight;
    kept++;
  }
  c.count = kept;
}
