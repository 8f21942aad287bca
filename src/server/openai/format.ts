/** How an endpoint renders its answer, whole or streamed, and the usage both report. */
import type { PoolToken } from "../../engines/pool/index.js";
import type { ChoiceOutcome } from "../gateway/answer.js";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Format {
  /** A choice's first streamed chunk before any content (chat: the role delta), or null. */
  start(index: number): unknown | null;
  /** A chunk for streamed text (and its tokens), or null when there is nothing to send yet. */
  delta(index: number, text: string, tokens: readonly PoolToken[]): unknown | null;
  finish(index: number, reason: "stop" | "length"): unknown;
  usage(usage: Usage): unknown;
  complete(outcomes: readonly ChoiceOutcome[], usage: Usage): unknown;
}

/** Prompt tokens count once per prompt (legacy completions: `choicesPerPrompt` choices share one). */
export function usageOf(outcomes: readonly ChoiceOutcome[], choicesPerPrompt: number): Usage {
  let prompt = 0;
  let completion = 0;
  for (const o of outcomes) {
    if (o.index % choicesPerPrompt === 0) prompt += o.result.promptTokens;
    completion += o.result.completionTokens;
  }
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** How a route wants its answer rendered. */
export interface RenderOptions {
  /** legacy completions with several prompts: choices per prompt (usage counts each prompt once) */
  readonly choicesPerPrompt: number;
  /** the variant name is known only once it answered */
  readonly format: (variant: string) => Format;
  /** streamed: a final usage chunk */
  readonly includeUsage: boolean;
  /** whether per-token logprobs are streamed (then every token gets its own chunk) */
  readonly logprobs: boolean;
}
