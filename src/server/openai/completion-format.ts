/** Legacy `text_completion` objects, whole and streamed. */
import type { PoolToken } from "../../engines/pool/index.js";
import type { ChoiceOutcome } from "../gateway/answer.js";
import { SYSTEM_FINGERPRINT } from "./chat-format.js";
import { openAIFinishReason } from "./finish-reason.js";
import type { Format, Usage } from "./format.js";
import { completionLogprobs } from "./logprobs.js";

export function completionFormat(
  id: string,
  created: number,
  model: string,
  logprobs: boolean,
  includeUsage: boolean,
  echo: string | null,
): Format {
  const object = (choices: unknown[], usage?: Usage | null) => ({
    id,
    object: "text_completion",
    created,
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices,
    ...(usage !== undefined ? { usage } : {}),
  });
  return {
    start: (index) =>
      echo === null
        ? null
        : object([{ index, text: echo, logprobs: null, finish_reason: null }], includeUsage ? null : undefined),
    delta: (index: number, text: string, tokens: readonly PoolToken[]) =>
      object(
        [
          {
            index,
            text,
            logprobs: logprobs && tokens.length > 0 ? completionLogprobs(tokens, 0) : null,
            finish_reason: null,
          },
        ],
        includeUsage ? null : undefined,
      ),
    finish: (index, reason) =>
      object([{ index, text: "", logprobs: null, finish_reason: reason }], includeUsage ? null : undefined),
    usage: (usage) => object([], usage),
    complete: (outcomes: readonly ChoiceOutcome[], usage: Usage) =>
      object(
        outcomes.map((o) => ({
          index: o.index,
          text: (echo ?? "") + o.result.text,
          logprobs: logprobs ? completionLogprobs(o.result.tokens, echo?.length ?? 0) : null,
          finish_reason: openAIFinishReason(o.result.finishReason),
        })),
        usage,
      ),
  };
}
