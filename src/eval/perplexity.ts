/**
 * Perplexity and next-token agreement over a token stream.
 *
 * The stream is cut into windows of `window` tokens starting every `stride` tokens (default:
 * `stride = window`, non-overlapping). Each window is run from an empty context, and a window
 * predicts each of its tokens from the tokens before it in the same window; every stream position
 * is predicted at most once, by the first window that covers it with some prefix. So with
 * non-overlapping windows the first token of each window is not predicted (it has no prefix in
 * its window), and a window of W tokens scores W − 1 positions from 0..W − 2 tokens of context;
 * with `stride < window` each later window scores only its last `stride` tokens, each from at
 * least `window − stride` tokens of context. The last window may be shorter than `window`.
 *
 * nll is the mean negative log-likelihood (nats per predicted token) and perplexity = exp(nll).
 * top-1 accuracy is the fraction of predicted positions where the model's most likely token is
 * the actual next token; top-1 agreement is the fraction where a variant's most likely token is
 * the reference's. Scoring (scoreTokens) is the only step that runs a model; the rest is pure.
 */
import { scoreRow } from "./logits.js";
import type { Scorer } from "./scorer.js";

export type TokenStream = Int32Array | Uint16Array | readonly number[];

export interface WindowOptions {
  /** tokens per window (at least 2); a window needs window − 1 positions of model context */
  readonly window: number;
  /** tokens between window starts, 1..window (default window: non-overlapping) */
  readonly stride?: number;
}

/** One window: stream positions start..end−1 run; positions firstTarget..end−1 predicted. */
export interface ScoredWindow {
  readonly start: number;
  readonly end: number;
  readonly firstTarget: number;
}

/** Per predicted position: which one, its log-probability and the model's top-1 token. */
export interface TokenScores {
  readonly targets: Int32Array;
  readonly logProbs: Float64Array;
  readonly predictions: Int32Array;
  readonly windows: number;
}

export interface ScoreSummary {
  /** mean negative log-likelihood, nats per predicted token */
  readonly nll: number;
  readonly perplexity: number;
  readonly top1Accuracy: number;
}

export interface TokenEvaluation extends ScoreSummary {
  /** positions predicted */
  readonly tokens: number;
  readonly windows: number;
  /** fraction of positions where the top-1 token equals the reference's */
  readonly top1Agreement?: number;
  readonly reference?: ScoreSummary;
}

function checkWindow(options: WindowOptions): { window: number; stride: number } {
  const { window } = options;
  if (!Number.isInteger(window) || window < 2) {
    throw new RangeError(`window must be an integer of at least 2 tokens, got ${window}`);
  }
  const stride = options.stride ?? window;
  if (!Number.isInteger(stride) || stride < 1 || stride > window) {
    throw new RangeError(`stride must be an integer from 1 to window (${window}), got ${stride}`);
  }
  return { window, stride };
}

function checkLength(length: number): void {
  if (length < 2) {
    throw new RangeError(`tokens must hold at least 2 tokens (a prefix and a token to predict), got ${length}`);
  }
}

/** The windows over a stream of `length` tokens, each listed only if it predicts something. */
export function planWindows(length: number, options: WindowOptions): ScoredWindow[] {
  const { window, stride } = checkWindow(options);
  checkLength(length);
  const plan: ScoredWindow[] = [];
  let predictedUpTo = 1; // position 0 can never be predicted
  for (let start = 0; ; start += stride) {
    const end = Math.min(start + window, length);
    const firstTarget = Math.max(start + 1, predictedUpTo);
    if (firstTarget < end) plan.push({ start, end, firstTarget });
    predictedUpTo = end;
    if (end === length) return plan;
  }
}

function checkTokens(tokens: TokenStream, vocabSize: number): void {
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i] as number;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`tokens[${i}] = ${id} is outside the model's vocabulary (0..${vocabSize - 1})`);
    }
  }
}

/** Runs the scorer over every window and keeps, per predicted position, what the summary needs. */
export async function scoreTokens(scorer: Scorer, tokens: TokenStream, options: WindowOptions): Promise<TokenScores> {
  const plan = planWindows(tokens.length, options);
  if (options.window - 1 > scorer.contextLength) {
    throw new RangeError(
      `window ${options.window} needs ${options.window - 1} positions of context; the model holds ${scorer.contextLength}`,
    );
  }
  checkTokens(tokens, scorer.vocabSize);
  const count = plan.reduce((n, w) => n + w.end - w.firstTarget, 0);
  const targets = new Int32Array(count);
  const logProbs = new Float64Array(count);
  const predictions = new Int32Array(count);
  const vocab = scorer.vocabSize;
  let k = 0;
  for (const { start, end, firstTarget } of plan) {
    // the last token is only ever predicted, so the model runs on start..end−2
    const input = Array.from({ length: end - 1 - start }, (_, i) => tokens[start + i] as number);
    const logits = await scorer.logits(input);
    if (logits.length !== input.length * vocab) {
      throw new Error(`the scorer returned ${logits.length} logits for ${input.length} positions of ${vocab}`);
    }
    for (let t = firstTarget; t < end; t++, k++) {
      const row = t - 1 - start;
      const score = scoreRow(logits.subarray(row * vocab, (row + 1) * vocab), tokens[t] as number);
      targets[k] = t;
      logProbs[k] = score.logProb;
      predictions[k] = score.argmax;
    }
  }
  return { targets, logProbs, predictions, windows: plan.length };
}

function summarize(tokens: TokenStream, scores: TokenScores): ScoreSummary {
  let sum = 0;
  let correct = 0;
  for (let i = 0; i < scores.targets.length; i++) {
    sum -= scores.logProbs[i] as number;
    if (scores.predictions[i] === tokens[scores.targets[i] as number]) correct++;
  }
  const nll = sum / scores.targets.length;
  return { nll, perplexity: Math.exp(nll), top1Accuracy: correct / scores.targets.length };
}

/** Perplexity and accuracy of `scores`, and agreement with `reference` scored on the same windows. */
export function summarizeScores(tokens: TokenStream, scores: TokenScores, reference?: TokenScores): TokenEvaluation {
  const own = { ...summarize(tokens, scores), tokens: scores.targets.length, windows: scores.windows };
  if (reference === undefined) return own;
  const n = scores.targets.length;
  if (reference.targets.length !== n || reference.targets.some((t, i) => t !== scores.targets[i])) {
    throw new Error("the reference was scored on other windows than the variant");
  }
  let agree = 0;
  for (let i = 0; i < n; i++) if (scores.predictions[i] === reference.predictions[i]) agree++;
  return { ...own, top1Agreement: agree / n, reference: summarize(tokens, reference) };
}

/** Scores `tokens` with `scorer` (and `reference`, when given) and summarizes. */
export async function evaluateTokens(
  scorer: Scorer,
  tokens: TokenStream,
  options: WindowOptions & { readonly reference?: Scorer },
): Promise<TokenEvaluation> {
  const scores = await scoreTokens(scorer, tokens, options);
  const reference = options.reference && (await scoreTokens(options.reference, tokens, options));
  return summarizeScores(tokens, scores, reference);
}
