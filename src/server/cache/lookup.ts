/**
 * The cache lookup, as middleware between the output ceiling and the rate limiter: after the body
 * is valid and the tenant known, before the limiter, routing and any engine. A hit is answered by
 * `complete` (routes/complete.ts) without routing; the limiter still admits it (a hit counts against
 * requests per minute) but reserves only the tokens the hit will bill (see `billedEstimate`).
 *
 * `x-tritgate-cache`: `miss` when the tier caches and the request was looked up, `hit` when it was
 * answered from the cache, `bypass` when the tier caches but the request is not deterministic;
 * absent when the tier's cache is off. On a semantic tier (chat only) an exact miss then asks the
 * semantic index (semantic.ts) for the most similar last user message with everything else equal.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ResponseCachePolicy } from "../../tenants/index.js";
import type { JsonInput } from "../middleware/validate.js";
import { requestHeader, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";
import { type DeterminismFields, isDeterministic, type KeyInput, responseKey } from "./key.js";
import { type SemanticProbe, semanticProbe } from "./semantic.js";
import type { CachedAnswer, ResponseCache } from "./store.js";

export const CACHE_HEADER = "x-tritgate-cache";

/** What the lookup found, on the request's outcome draft. */
export interface CacheLookup {
  readonly key: string;
  readonly policy: ResponseCachePolicy;
  readonly hit: CachedAnswer | null;
  /** how the hit was found: the same key, or a similar last message (with its cosine similarity) */
  readonly match: { readonly kind: "exact" } | { readonly kind: "semantic"; readonly similarity: number } | null;
  /** on a semantic tier: what the answer of a miss is indexed under */
  readonly probe: SemanticProbe | null;
  /** set when the hit was sent: a hit refused afterwards (by the limiter) is neither hit nor miss */
  served: boolean;
}

/** The body split for the semantic mode: the last user message's text, and the body with that text blanked. */
export type SemanticSplit<B> = (body: B) => { readonly text: string; readonly context: object } | null;

export function cacheLookup<B extends DeterminismFields & object>(
  cache: ResponseCache,
  endpoint: string,
  now: () => number,
  split?: SemanticSplit<B>,
): MiddlewareHandler<GatewayEnv, string, JsonInput<B>> {
  return async (c, next) => {
    const { tenant, tier } = c.get("principal");
    const policy = tier.responseCache;
    if (!policy || policy.mode === "off" || cache.maxBytes === 0) return next();
    const body = c.req.valid("json");
    if (!isDeterministic(body)) {
      setHeader(c, CACHE_HEADER, "bypass");
      return next();
    }
    const input: KeyInput = {
      tenantId: tenant.id,
      tier,
      endpoint,
      body,
      hints: { quality: requestHeader(c, "x-tritgate-quality"), slaMs: requestHeader(c, "x-tritgate-sla-ms") },
    };
    const key = responseKey(input);
    const at = now();
    let hit = cache.get(tenant.id, key, at) ?? null;
    let match: CacheLookup["match"] = hit ? { kind: "exact" } : null;
    let probe: SemanticProbe | null = null;
    const parts = policy.mode === "semantic" && cache.semantic && cache.embedder && split ? split(body) : null;
    if (parts && cache.semantic && cache.embedder) {
      // the context key is the exact key's input with the message blanked, apart from every exact key
      const contextKey = responseKey({ ...input, endpoint: `${endpoint}#semantic`, body: parts.context });
      probe = semanticProbe(cache.embedder, contextKey, parts.text);
      const near = hit ? null : cache.semantic.nearest(probe, policy.similarity, (k) => cache.has(k));
      const found = near ? cache.get(tenant.id, near.key, at) : undefined;
      if (near && found) {
        hit = found;
        match = { kind: "semantic", similarity: near.similarity };
      }
    }
    c.get("outcome").cache = { key, policy, hit, match, probe, served: false };
    if (!hit) setHeader(c, CACHE_HEADER, "miss");
    return next();
  };
}

/** Tokens a hit bills: what its usage reports when the tier bills hits, else none. */
export function billedTokensOf(hit: CachedAnswer, policy: ResponseCachePolicy): number {
  if (!policy.billHits) return 0;
  const first = hit.choices[0];
  return (first?.result.promptTokens ?? 0) + hit.choices.reduce((s, o) => s + o.result.completionTokens, 0);
}

/** The limiter's estimate for a request: a hit's billed tokens, else the route's own estimate. */
export function billedEstimate<C extends Context<GatewayEnv>>(estimate: (c: C) => number): (c: C) => number {
  return (c) => {
    const lookup = c.get("outcome")?.cache;
    return lookup?.hit ? billedTokensOf(lookup.hit, lookup.policy) : estimate(c);
  };
}
