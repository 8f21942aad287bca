/** What perplexity needs of a model: the logits at every position of a token window. */
import type { Engine } from "../engines/engine.js";

export interface Scorer {
  readonly vocabSize: number;
  /** most tokens one `logits` call may take */
  readonly contextLength: number;
  /**
   * The logits of every position of `tokens`, run from an empty context, row-major
   * [tokens.length x vocabSize]: row i scores the token that follows tokens[i].
   */
  logits(tokens: readonly number[]): Promise<Float32Array>;
}

/** An engine as a Scorer: each call is a fresh session sized to the window. */
export function engineScorer(engine: Pick<Engine, "vocabSize" | "contextLength" | "newSession">): Scorer {
  return {
    vocabSize: engine.vocabSize,
    contextLength: engine.contextLength,
    logits: (tokens) => engine.newSession(tokens.length).appendAll(tokens),
  };
}
