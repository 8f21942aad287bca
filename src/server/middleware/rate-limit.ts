/**
 * Requests and tokens per minute and the monthly budget, through the RateLimiter contract. Every
 * answer carries the `x-ratelimit-*` headers; a refusal is a 429 with `retry-after`.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { LimitDecision, RateLimiter } from "../../tenants/index.js";
import { errorResponse, rateLimited } from "../errors.js";
import type { GatewayEnv } from "../types.js";

export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  return {
    "x-ratelimit-limit-requests": String(d.limitRequests),
    "x-ratelimit-remaining-requests": String(Math.max(0, d.remainingRequests)),
    "x-ratelimit-reset-requests": `${Math.max(0, Math.ceil(d.resetRequestsSeconds))}s`,
    "x-ratelimit-limit-tokens": String(d.limitTokens),
    "x-ratelimit-remaining-tokens": String(Math.max(0, d.remainingTokens)),
    "x-ratelimit-reset-tokens": `${Math.max(0, Math.ceil(d.resetTokensSeconds))}s`,
  };
}

export function rateLimit(
  limiter: RateLimiter,
  estimate: (c: Context<GatewayEnv>) => number,
  now: () => number,
): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const { tenant, tier } = c.get("principal");
    const tokens = Math.max(0, Math.ceil(estimate(c)));
    const decision = await limiter.admit(tenant.id, tier, tokens, now());
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      const retry = decision.retryAfterSeconds ?? Math.max(decision.resetRequestsSeconds, 1);
      if (decision.reason === "monthly_budget") {
        return errorResponse(
          c,
          rateLimited(
            "You exceeded your monthly token budget; ask your administrator to raise it.",
            retry,
            "insufficient_quota",
            "insufficient_quota",
            headers,
          ),
        );
      }
      const what = decision.reason === "tokens_per_minute" ? "tokens" : "requests";
      const limit = what === "tokens" ? decision.limitTokens : decision.limitRequests;
      return errorResponse(
        c,
        rateLimited(
          `Rate limit reached for tenant ${tenant.name} on ${what} per min: limit ${limit}. Please try again in ${retry}s.`,
          retry,
          what,
          "rate_limit_exceeded",
          headers,
        ),
      );
    }
    c.set("reservedTokens", tokens);
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
