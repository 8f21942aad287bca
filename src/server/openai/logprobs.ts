/** Token log-probabilities in OpenAI's shapes: chat (`content: [...]`) and legacy completions. */
import type { PoolToken } from "../../engines/pool/index.js";

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

export interface ChatLogprobs {
  content: ChatTokenLogprob[];
  refusal: null;
}

/** -Infinity is not JSON: OpenAI reports such tokens at -9999. */
const finiteLogprob = (x: number) => (Number.isFinite(x) ? x : -9999);

export function chatTokenLogprob(t: PoolToken): ChatTokenLogprob {
  return {
    token: t.token ?? t.text,
    logprob: finiteLogprob(t.logprob),
    bytes: t.bytes ? [...t.bytes] : null,
    top_logprobs: t.top.map((a) => ({
      token: a.token ?? "",
      logprob: finiteLogprob(a.logprob),
      bytes: a.bytes ? [...a.bytes] : null,
    })),
  };
}

export function chatLogprobs(tokens: readonly PoolToken[]): ChatLogprobs {
  return { content: tokens.map(chatTokenLogprob), refusal: null };
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export function completionLogprobs(tokens: readonly PoolToken[], startOffset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = startOffset;
  for (const t of tokens) {
    out.tokens.push(t.token ?? t.text);
    out.token_logprobs.push(finiteLogprob(t.logprob));
    out.top_logprobs.push(Object.fromEntries(t.top.map((a) => [a.token ?? "", finiteLogprob(a.logprob)])));
    out.text_offset.push(offset);
    offset += t.text.length;
  }
  return out;
}
