/**
 * The cache lookup, as middleware between the output ceiling and the rate limiter: after the body
 * is valid and the tenant known, before the limiter, routing and any engine. A hit is answered by
 * `complete` (routes/complete.ts) without routing; the limiter still admits it (a hit counts against
 * requests per minute) but reserves only the tokens the hit will bill (see `billedEstimate`).
 *
 * `x-tritgate-cache`: `miss` when the tier caches and the request was looked up, `hit` when it was
 * answered from the cache, `bypass` when the tier caches but the request is not deterministic;
 * absent when the tier's cache is off.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ResponseCachePolicy } from "../../tenants/index.js";
import type { JsonInput } from "../middleware/validate.js";
import { requestHeader, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";
import { type DeterminismFields, isDeterministic, responseKey } from "./key.js";
import type { CachedAnswer, ResponseCache } from "./store.js";

export const CACHE_HEADER = "x-tritgate-cache";

/** What the lookup found, on the request's outcome draft. */
export interface CacheLookup {
  readonly key: string;
  readonly policy: ResponseCachePolicy;
  readonly hit: CachedAnswer | null;
  /** set when the hit was sent: a hit refused afterwards (by the limiter) is neither hit nor miss */
  served: boolean;
}

export function cacheLookup<B extends DeterminismFields & object>(
  cache: ResponseCache,
  endpoint: string,
  now: () => number,
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
    const key = responseKey({
      tenantId: tenant.id,
      tier,
      endpoint,
      body,
      hints: { quality: requestHeader(c, "x-tritgate-quality"), slaMs: requestHeader(c, "x-tritgate-sla-ms") },
    });
    const hit = cache.get(tenant.id, key, now()) ?? null;
    c.get("outcome").cache = { key, policy, hit, served: false };
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
