/**
 * A hit, answered in the shape the request asked for: one JSON body, or an SSE stream (role chunk,
 * the answer's tokens as content chunks, finish chunk, usage chunk when asked, `[DONE]`), from the
 * same stored choices whichever way the answer was first sent. Ids, `created` and tool-call ids are
 * new; content, finish reasons, logprobs and usage are the stored answer's.
 */
import type { Context } from "hono";
import type { Gateway } from "../gateway/gateway.js";
import { type RenderOptions, usageOf } from "../openai/format.js";
import { SSE_HEADERS, sseStream } from "../openai/sse.js";
import { ChunkWriter } from "../openai/stream.js";
import { bodyResponse, jsonResponse, setHeaders } from "../response.js";
import type { GatewayEnv } from "../types.js";
import { CACHE_HEADER, type CacheLookup } from "./lookup.js";
import type { CachedAnswer } from "./store.js";

export function replayCached(
  c: Context<GatewayEnv>,
  gateway: Gateway,
  lookup: CacheLookup,
  hit: CachedAnswer,
  render: RenderOptions & { readonly stream: boolean },
): Response {
  const draft = c.get("outcome");
  const now = gateway.now();
  lookup.served = true;
  draft.choices.push(...hit.choices);
  draft.firstTokenAt = now;
  setHeaders(c, {
    [CACHE_HEADER]: "hit",
    "x-tritgate-cache-billed": String(lookup.policy.billHits),
    "x-tritgate-cache-match": lookup.match?.kind ?? "exact",
    ...(lookup.match?.kind === "semantic" ? { "x-tritgate-cache-similarity": lookup.match.similarity.toFixed(4) } : {}),
    age: String(Math.max(0, Math.floor((now - hit.storedAt) / 1000))),
    "x-tritgate-variant": hit.variant,
    // degraded answers are never stored
    "x-tritgate-degraded": "false",
  });
  const usage = usageOf(hit.choices, render.choicesPerPrompt);
  if (!render.stream) return jsonResponse(c, render.format(hit.variant).complete(hit.choices, usage));
  const { body, sink } = sseStream(() => {});
  const writer = new ChunkWriter(sink, render);
  for (const choice of hit.choices) {
    for (const token of choice.result.tokens) writer.token(choice.index, choice.variant, token);
    writer.done(choice);
  }
  if (render.includeUsage && writer.format) sink.send(writer.format.usage(usage));
  sink.done();
  setHeaders(c, SSE_HEADERS);
  return bodyResponse(c, body, 200);
}
