/** Sampling parameters shared by every engine, their defaults and the OpenAI-style range checks. */

export interface SamplingParams {
  /** default 1; 0 means greedy (argmax, ties -> lowest id) */
  temperature?: number;
  /** 0 or undefined = off */
  topK?: number;
  /** 1 = off; keep the smallest set whose probability >= topP (always at least 1 token) */
  topP?: number;
  /** 0 = off; drop tokens whose probability < minP * p_max */
  minP?: number;
  /** 1 = off; llama.cpp/HF rule on tokens already seen: logit > 0 -> logit / p, else logit * p */
  repetitionPenalty?: number;
  /** OpenAI: logit -= frequency * count(token in history) */
  frequencyPenalty?: number;
  /** OpenAI: logit -= presence * (count > 0 ? 1 : 0) */
  presencePenalty?: number;
  /** how many most recent history tokens the penalties look at; default 64; -1 = all */
  penaltyWindow?: number;
  /** same seed + same logits sequence -> same tokens; undefined -> random seed */
  seed?: number;
  /** 0..20 alternatives to report */
  topLogprobs?: number;
  /** OpenAI logit_bias: added to logits, -100 effectively bans */
  logitBias?: Readonly<Record<number, number>>;
}

export interface TokenLogprob {
  id: number;
  logprob: number;
}

export interface SampledToken {
  id: number;
  /** log-probability of `id` under the model's own distribution (raw logits, before any sampling transform) */
  logprob: number;
  /** the `topLogprobs` most likely tokens under that same distribution, most likely first */
  top: TokenLogprob[];
}

export const DEFAULT_PENALTY_WINDOW = 64;
export const MAX_TOP_LOGPROBS = 20;
export const MAX_LOGIT_BIAS = 100;

/** SamplingParams with every default filled in; logitBias is kept as parsed (id, value) pairs. */
export interface ResolvedSamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  penaltyWindow: number;
  seed: number | undefined;
  topLogprobs: number;
  logitBias: ReadonlyArray<readonly [id: number, bias: number]>;
}

// checked before any range test: JSON-decoded input can carry strings, and `"1" >= 0` is true in JS
function isNumber(v: unknown): v is number {
  return typeof v === "number" && !Number.isNaN(v);
}

function inRange(v: number | undefined, lo: number, hi: number): boolean {
  return v === undefined || (isNumber(v) && v >= lo && v <= hi);
}

function isNonNegativeInteger(v: number | undefined): boolean {
  return v === undefined || (Number.isSafeInteger(v) && v >= 0);
}

const TOKEN_ID = /^(0|[1-9][0-9]*)$/;

function validateLogitBias(bias: unknown): string | undefined {
  if (bias === undefined) return undefined;
  if (typeof bias !== "object" || bias === null || Array.isArray(bias)) {
    return "logitBias must be an object mapping token ids to biases";
  }
  for (const [key, value] of Object.entries(bias)) {
    if (!TOKEN_ID.test(key) || !Number.isSafeInteger(Number(key))) {
      return `logitBias key "${key}" must be a non-negative integer token id`;
    }
    if (!isNumber(value) || value < -MAX_LOGIT_BIAS || value > MAX_LOGIT_BIAS) {
      return `logitBias[${key}] must be between -${MAX_LOGIT_BIAS} and ${MAX_LOGIT_BIAS}`;
    }
  }
  return undefined;
}

/** Returns a message naming the first invalid field, or undefined when every field is acceptable. */
export function validateSamplingParams(p: SamplingParams): string | undefined {
  if (!inRange(p.temperature, 0, 2)) return "temperature must be between 0 and 2";
  if (p.topP !== undefined && !(isNumber(p.topP) && p.topP > 0 && p.topP <= 1)) {
    return "topP must be greater than 0 and at most 1";
  }
  if (!isNonNegativeInteger(p.topK)) return "topK must be a non-negative integer (0 disables it)";
  if (!inRange(p.minP, 0, 1)) return "minP must be between 0 and 1";
  if (
    p.repetitionPenalty !== undefined &&
    !(isNumber(p.repetitionPenalty) && p.repetitionPenalty > 0 && Number.isFinite(p.repetitionPenalty))
  ) {
    return "repetitionPenalty must be a finite number greater than 0";
  }
  if (!inRange(p.frequencyPenalty, -2, 2)) return "frequencyPenalty must be between -2 and 2";
  if (!inRange(p.presencePenalty, -2, 2)) return "presencePenalty must be between -2 and 2";
  if (p.penaltyWindow !== undefined && p.penaltyWindow !== -1 && !isNonNegativeInteger(p.penaltyWindow)) {
    return "penaltyWindow must be a non-negative integer, or -1 for the whole history";
  }
  if (p.seed !== undefined && !Number.isSafeInteger(p.seed)) return "seed must be an integer";
  if (p.topLogprobs !== undefined && !(isNonNegativeInteger(p.topLogprobs) && p.topLogprobs <= MAX_TOP_LOGPROBS)) {
    return `topLogprobs must be an integer between 0 and ${MAX_TOP_LOGPROBS}`;
  }
  return validateLogitBias(p.logitBias);
}

/** Fills in defaults. Assumes validateSamplingParams(p) returned undefined. */
export function resolveSamplingParams(p: SamplingParams): ResolvedSamplingParams {
  const bias: Array<readonly [number, number]> = [];
  for (const [key, value] of Object.entries(p.logitBias ?? {})) {
    // zero biases are dropped so an all-zero map does not count as "logits modified"
    if (value !== 0) bias.push([Number(key), value]);
  }
  return {
    temperature: p.temperature ?? 1,
    topK: p.topK ?? 0,
    topP: p.topP ?? 1,
    minP: p.minP ?? 0,
    repetitionPenalty: p.repetitionPenalty ?? 1,
    frequencyPenalty: p.frequencyPenalty ?? 0,
    presencePenalty: p.presencePenalty ?? 0,
    penaltyWindow: p.penaltyWindow ?? DEFAULT_PENALTY_WINDOW,
    seed: p.seed,
    topLogprobs: p.topLogprobs ?? 0,
    logitBias: bias,
  };
}
