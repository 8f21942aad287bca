import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { LimitDecision, RateLimiter, TierConfig } from "../../tenants/index.js";
import type { GatewayEnv } from "../types.js";
import { rateLimit, rateLimitHeaders } from "./rate-limit.js";
import { expectOpenAIError, principal } from "./testkit.js";

const ALLOWED: LimitDecision = {
  allowed: true,
  limitRequests: 60,
  remainingRequests: 59,
  limitTokens: 1000,
  remainingTokens: 900,
  resetRequestsSeconds: 12.2,
  resetTokensSeconds: 30,
};

/** Answers every admit with `decision` and keeps what it was asked. */
function scripted(decision: LimitDecision) {
  const admitted: { tenant: string; tier: string; tokens: number; now: number }[] = [];
  const limiter: RateLimiter = {
    async admit(tenantId: string, tier: TierConfig, estimatedTokens: number, now: number) {
      admitted.push({ tenant: tenantId, tier: tier.name, tokens: estimatedTokens, now });
      return decision;
    },
    async settle() {},
    async close() {},
  };
  return { limiter, admitted };
}

/** `?tokens=N` is the estimate; `/fail` answers 500 from the route. */
function app(decision: LimitDecision) {
  const { limiter, admitted } = scripted(decision);
  const a = new Hono<GatewayEnv>()
    .use(async (c, next) => {
      c.set("principal", principal({ name: "standard" }));
      await next();
    })
    .use(
      rateLimit(
        limiter,
        (c) => Number(c.req.query("tokens") ?? "0"),
        () => 1_700_000_000_000,
      ),
    )
    .get("/", (c) => c.json({ reserved: c.get("reservedTokens") }))
    .get("/fail", (c) => c.json({ error: "route failed" }, 500));
  return { app: a, admitted };
}

const refused = (over: Partial<LimitDecision>): LimitDecision => ({ ...ALLOWED, allowed: false, ...over });

describe("rateLimitHeaders", () => {
  it("writes OpenAI's x-ratelimit-* figures: remaining never below 0, resets rounded up to whole seconds", () => {
    expect(
      rateLimitHeaders({ ...ALLOWED, remainingRequests: -2, remainingTokens: -5, resetTokensSeconds: -1 }),
    ).toEqual({
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "13s",
      "x-ratelimit-limit-tokens": "1000",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "0s",
    });
  });
});

describe("rateLimit", () => {
  it("asks the limiter for the tenant's estimate (whole tokens, never negative) at the given clock", async () => {
    const { app: a, admitted } = app(ALLOWED);
    for (const tokens of ["12.2", "-4"]) await a.request(`/?tokens=${tokens}`);
    expect(admitted).toEqual([
      { tenant: "acme", tier: "standard", tokens: 13, now: 1_700_000_000_000 },
      { tenant: "acme", tier: "standard", tokens: 0, now: 1_700_000_000_000 },
    ]);
  });

  it("an admitted request reaches the route with its reservation, and every answer carries the figures", async () => {
    const { app: a } = app(ALLOWED);
    const res = await a.request("/?tokens=100");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ reserved: 100 });
    const failed = await a.request("/fail?tokens=100");
    expect(failed.status).toBe(500);
    for (const r of [res, failed]) {
      expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("59");
      expect(r.headers.get("x-ratelimit-reset-requests")).toBe("13s");
      expect(r.headers.get("x-ratelimit-remaining-tokens")).toBe("900");
    }
  });

  it("too many requests this minute is a 429 `requests` with retry-after", async () => {
    const d = refused({ reason: "requests_per_minute", retryAfterSeconds: 7.5, remainingRequests: 0 });
    const res = await app(d).app.request("/?tokens=10");
    await expectOpenAIError(res, 429, {
      type: "requests",
      code: "rate_limit_exceeded",
      message: /^Rate limit reached for tenant Acme on requests per min: limit 60\. Please try again in 7\.5s\.$/,
    });
    expect(res.headers.get("retry-after")).toBe("8");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(res.headers.get("x-should-retry")).toBeNull();
  });

  it("a refusal without a retry time retries after the request window's reset", async () => {
    const res = await app(refused({ reason: "requests_per_minute", resetRequestsSeconds: 0.2 })).app.request("/");
    await expectOpenAIError(res, 429, { type: "requests", code: "rate_limit_exceeded", message: /try again in 1s/ });
    expect(res.headers.get("retry-after")).toBe("1");
  });

  it("tokens per minute: a 429 `tokens` while waiting helps, a 400 when the request alone is too large", async () => {
    const wait = await app(refused({ reason: "tokens_per_minute", retryAfterSeconds: 20 })).app.request("/?tokens=500");
    await expectOpenAIError(wait, 429, {
      type: "tokens",
      code: "rate_limit_exceeded",
      message: /on tokens per min: limit 1000\. Please try again in 20s\.$/,
    });
    expect(wait.headers.get("retry-after")).toBe("20");
    const never = await app(refused({ reason: "tokens_per_minute" })).app.request("/?tokens=1500");
    await expectOpenAIError(never, 400, {
      type: "invalid_request_error",
      code: "request_exceeds_tokens_per_minute",
      message:
        /^This request may use up to 1500 tokens, more than your limit of 1000 tokens per minute allows at all\./,
    });
    expect(never.headers.get("retry-after")).toBeNull();
    expect(never.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
  });

  it("the monthly budget: a 400 when the request does not fit it, a 429 insufficient_quota only once it is spent", async () => {
    const whole = await app(refused({ reason: "monthly_budget" })).app.request("/?tokens=900");
    await expectOpenAIError(whole, 400, {
      type: "invalid_request_error",
      code: "request_exceeds_monthly_budget",
      message: /^This request may use up to 900 tokens, more than your whole monthly token budget allows\./,
    });
    const rest = refused({ reason: "monthly_budget", retryAfterSeconds: 86_400, remainingBudgetTokens: 40 });
    const partly = await app(rest).app.request("/?tokens=900");
    await expectOpenAIError(partly, 400, {
      type: "invalid_request_error",
      code: "request_exceeds_remaining_budget",
      message: /^This request may use up to 900 tokens, but only 40 remain of your monthly token budget\./,
    });
    expect(partly.headers.get("x-ratelimit-remaining-requests")).toBe("59");
    const spent = refused({ reason: "monthly_budget", retryAfterSeconds: 86_400, remainingBudgetTokens: 0 });
    const res = await app(spent).app.request("/?tokens=900");
    await expectOpenAIError(res, 429, {
      type: "insufficient_quota",
      code: "insufficient_quota",
      message: /^You exceeded your monthly token budget/,
    });
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(res.headers.get("retry-after")).toBe("86400");
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("60");
  });
});
