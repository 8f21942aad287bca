/** `chat.completion` and `chat.completion.chunk` in OpenAI's exact shape. */
import type { PoolToken } from "../../engines/pool/index.js";
import type { ChoiceOutcome } from "../gateway/answer.js";
import { openAIFinishReason } from "./finish-reason.js";
import type { Format, Usage } from "./format.js";
import { chatLogprobs } from "./logprobs.js";

export const SYSTEM_FINGERPRINT = "fp_tritgate";

/** The `chat.completion.chunk` envelope around `choices` (usage only when the client asked for it). */
export function chatChunk(id: string, created: number, model: string, includeUsage: boolean) {
  return (choices: unknown[], usage?: Usage | null) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices,
    ...(includeUsage ? { usage: usage ?? null } : {}),
  });
}

/** The `chat.completion` envelope around `choices`. */
export function chatCompletion(id: string, created: number, model: string) {
  return (choices: unknown[], usage: Usage) => ({
    id,
    object: "chat.completion",
    created,
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices,
    usage,
  });
}

export function chatFormat(
  id: string,
  created: number,
  model: string,
  logprobs: boolean,
  includeUsage: boolean,
): Format {
  const chunk = chatChunk(id, created, model, includeUsage);
  const completion = chatCompletion(id, created, model);
  return {
    start: (index) =>
      chunk([{ index, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }]),
    delta: (index: number, text: string, tokens: readonly PoolToken[]) =>
      chunk([
        {
          index,
          delta: { content: text },
          logprobs: logprobs && tokens.length > 0 ? chatLogprobs(tokens) : null,
          finish_reason: null,
        },
      ]),
    finish: (index, reason) => chunk([{ index, delta: {}, logprobs: null, finish_reason: reason }]),
    usage: (usage) => chunk([], usage),
    complete: (outcomes: readonly ChoiceOutcome[], usage: Usage) =>
      completion(
        outcomes.map((o) => ({
          index: o.index,
          message: { role: "assistant", content: o.result.text, refusal: null, annotations: [] },
          logprobs: logprobs ? chatLogprobs(o.result.tokens) : null,
          finish_reason: openAIFinishReason(o.result.finishReason),
        })),
        usage,
      ),
  };
}
