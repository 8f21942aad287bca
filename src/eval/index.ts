// Measured quality and speed of a variant (`tritgate eval`): perplexity, top-1 agreement, tokens/s.

export {
  type EvalResult,
  type EvaluateVariantOptions,
  evaluateVariant,
  modelBytesOnDisk,
  writeEvalResult,
} from "./evaluate.js";
export { argmax, logSumExp, type RowScore, scoreRow } from "./logits.js";
export {
  evaluateTokens,
  planWindows,
  type ScoredWindow,
  type ScoreSummary,
  scoreTokens,
  summarizeScores,
  type TokenEvaluation,
  type TokenScores,
  type TokenStream,
  type WindowOptions,
} from "./perplexity.js";
export { engineScorer, type Scorer } from "./scorer.js";
export { measureSpeed, type SpeedOptions, type SpeedResult } from "./speed.js";
