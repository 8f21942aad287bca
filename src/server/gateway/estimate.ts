/**
 * The prompt-token estimate routing and the rate limiter's reservation share: the engine's tokenizer
 * counts the real prompt in its worker, too late for either.
 */
import type { RouteMessage } from "../../../router/index.js";

/** A rough token count: four characters a token. */
export function approxTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Each message's text plus a few tokens of chat-template framing. */
export function promptTokenEstimate(messages: readonly RouteMessage[]): number {
  let tokens = 0;
  for (const m of messages) tokens += approxTokens(m.content) + 4;
  return tokens;
}
