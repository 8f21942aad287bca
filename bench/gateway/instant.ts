/** For the gateway benches: an engine that answers every request at once with one token, so what
 * is measured is the gateway's own request path, and the bare route it is compared with. */
import { Hono } from "hono";
import type { PoolResult, PoolToken } from "../../src/engines/pool/index.js";
import type { VariantRuntime } from "../../src/server/types.js";

export function instantRuntime(name: string): VariantRuntime {
  const token: PoolToken = { id: 97, text: "a", logprob: -0.5, top: [] };
  const result: PoolResult = {
    text: "a",
    finishReason: "length",
    promptTokens: 9,
    completionTokens: 1,
    prefillMs: 0,
    decodeMs: 0,
    queueMs: 0,
    tokens: [token],
  };
  return {
    name,
    state: "ready",
    error: undefined,
    info: { kind: "bitnet", contextLength: 256, vocabSize: 270, loadMs: 0 },
    slots: 1_000_000,
    running: 0,
    waiting: 0,
    generate: async (_request, onToken) => {
      onToken?.(token);
      return result;
    },
  };
}

/** The anchor the gateway is measured against: a bare Hono route that reads the body and returns a fixed chat.completion. */
export function bareRouteApp(): Hono {
  return new Hono().post("/v1/chat/completions", async (c) => {
    await c.req.json();
    return c.json(FIXED_COMPLETION);
  });
}

const FIXED_COMPLETION = {
  id: "chatcmpl-bench0000000000000000",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "tiny-b158",
  choices: [{ index: 0, message: { role: "assistant", content: "a" }, logprobs: null, finish_reason: "length" }],
  usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 },
};
