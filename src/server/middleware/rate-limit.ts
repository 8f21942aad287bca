/**
 * Requests and tokens per minute and the monthly budget, through the RateLimiter contract. Every
 * answer carries the `x-ratelimit-*` headers. A refusal that waiting cures is a 429 with `retry-after`;
 * one that waiting cannot cure is a 400, so clients do not retry it:
 * - the request alone needs more tokens than the tier's tokens/minute (`request_exceeds_tokens_per_minute`)
 *   or monthly budget (`request_exceeds_monthly_budget`) allows;
 * - the budget is not spent but has less left than the request may use (`request_exceeds_remaining_budget`).
 * `insufficient_quota` (429, `x-should-retry: false`) is kept for a budget that really is spent.
 */
import type { Context, Input, MiddlewareHandler } from "hono";
import type { LimitDecision, RateLimiter } from "../../tenants/index.js";
import { type ApiError, errorResponse, invalidRequest, rateLimited } from "../errors.js";
import { headerRecord, setHeaders } from "../response.js";
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

/**
 * Admits the request for the tokens it may use (`estimate`), reserved until the request's outcome
 * settles them (`outcome/settle-limiter.ts`).
 */
export function rateLimit<I extends Input>(
  limiter: RateLimiter,
  estimate: (c: Context<GatewayEnv, string, I>) => number,
  now: () => number,
): MiddlewareHandler<GatewayEnv, string, I> {
  return async (c, next) => {
    const { tenant, tier } = c.get("principal");
    const tokens = Math.max(0, Math.ceil(estimate(c)));
    const decision = await limiter.admit(tenant.id, tier, tokens, now());
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) return errorResponse(c, refusal(decision, tenant.name, tokens, headers));
    c.set("reservedTokens", tokens);
    setHeaders(c, headers);
    await next();
    // a response built without the header record (Hono's own c.json) still carries the figures
    if (!headerRecord(c).applied) for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}

/** The error a refused decision answers with (see the module comment). */
function refusal(d: LimitDecision, tenant: string, tokens: number, headers: Record<string, string>): ApiError {
  const lower = "Lower max_tokens (or n), or shorten the prompt.";
  if (d.reason === "monthly_budget") {
    if (d.retryAfterSeconds === undefined) {
      return invalidRequest(
        `This request may use up to ${tokens} tokens, more than your whole monthly token budget allows. ${lower}`,
        null,
        "request_exceeds_monthly_budget",
      ).withHeaders(headers);
    }
    const left = d.remainingBudgetTokens ?? 0;
    if (left > 0) {
      return invalidRequest(
        `This request may use up to ${tokens} tokens, but only ${left} remain of your monthly token budget. ${lower}`,
        null,
        "request_exceeds_remaining_budget",
      ).withHeaders(headers);
    }
    return rateLimited(
      "You exceeded your monthly token budget; ask your administrator to raise it.",
      d.retryAfterSeconds,
      "insufficient_quota",
      "insufficient_quota",
      { ...headers, "x-should-retry": "false" },
    );
  }
  if (d.reason === "tokens_per_minute" && d.retryAfterSeconds === undefined) {
    return invalidRequest(
      `This request may use up to ${tokens} tokens, more than your limit of ${d.limitTokens} tokens per minute allows at all. ${lower}`,
      null,
      "request_exceeds_tokens_per_minute",
    ).withHeaders(headers);
  }
  const retry = d.retryAfterSeconds ?? Math.max(1, Math.ceil(d.resetRequestsSeconds));
  const what = d.reason === "tokens_per_minute" ? "tokens" : "requests";
  const limit = what === "tokens" ? d.limitTokens : d.limitRequests;
  return rateLimited(
    `Rate limit reached for tenant ${tenant} on ${what} per min: limit ${limit}. Please try again in ${retry}s.`,
    retry,
    what,
    "rate_limit_exceeded",
    headers,
  );
}
