/**
 * The behaviour every RateLimiter must show, as a vitest suite run against each implementation
 * (in-memory, Redis). Time is the `now` argument: no sleeping, no real clock.
 */
import { expect, it } from "vitest";
import { tierConfig } from "../testkit.js";
import type { RateLimiter } from "../types.js";

const T0 = Date.UTC(2026, 2, 10, 12, 30, 0); // a minute boundary
const SEC = 1000;
const MIN = 60 * SEC;

export function rateLimiterContract(make: () => RateLimiter): void {
  let n = 0;
  const tenant = () => `t${++n}-${Math.random().toString(36).slice(2, 8)}`;

  it("admits exactly requestsPerMinute requests, then refuses with the time to the window's end", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 3, tokensPerMinute: 1000 });
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await rl.admit(id, tier, 10, T0 + 15 * SEC));
    expect(seen.map((d) => d.allowed)).toEqual([true, true, true]);
    expect(seen.map((d) => d.remainingRequests)).toEqual([2, 1, 0]);
    expect(seen.map((d) => d.remainingTokens)).toEqual([990, 980, 970]);
    expect(seen[0]).toMatchObject({
      limitRequests: 3,
      limitTokens: 1000,
      resetRequestsSeconds: 45,
      resetTokensSeconds: 45,
    });
    const over = await rl.admit(id, tier, 10, T0 + 20_500);
    expect(over).toMatchObject({
      allowed: false,
      reason: "requests_per_minute",
      retryAfterSeconds: 40, // 39.5 s rounded up
      remainingRequests: 0,
      remainingTokens: 970, // a refused request reserves nothing
      resetRequestsSeconds: 39.5,
    });
    await rl.close();
  });

  it("admits up to exactly tokensPerMinute and refuses one token more", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 100, tokensPerMinute: 1000 });
    expect((await rl.admit(id, tier, 600, T0)).remainingTokens).toBe(400);
    const exact = await rl.admit(id, tier, 400, T0 + SEC);
    expect(exact).toMatchObject({ allowed: true, remainingTokens: 0 });
    const one = await rl.admit(id, tier, 1, T0 + 2 * SEC);
    expect(one).toMatchObject({ allowed: false, reason: "tokens_per_minute", retryAfterSeconds: 58 });
    expect(one.remainingRequests).toBe(98); // refused: not counted
    const zero = await rl.admit(id, tier, 0, T0 + 3 * SEC);
    expect(zero.allowed).toBe(true);
    await rl.close();
  });

  it("starts a fresh window at the minute boundary", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 1, tokensPerMinute: 100 });
    expect((await rl.admit(id, tier, 100, T0 + 59 * SEC)).allowed).toBe(true);
    const last = await rl.admit(id, tier, 1, T0 + MIN - 1);
    expect(last).toMatchObject({ allowed: false, retryAfterSeconds: 1, resetRequestsSeconds: 0.001 });
    const next = await rl.admit(id, tier, 100, T0 + MIN);
    expect(next).toMatchObject({ allowed: true, remainingRequests: 0, remainingTokens: 0, resetTokensSeconds: 60 });
    await rl.close();
  });

  it("keeps tenants apart", async () => {
    const rl = make();
    const tier = tierConfig({ requestsPerMinute: 1 });
    const [a, b] = [tenant(), tenant()];
    expect((await rl.admit(a, tier, 1, T0)).allowed).toBe(true);
    expect((await rl.admit(a, tier, 1, T0)).allowed).toBe(false);
    expect((await rl.admit(b, tier, 1, T0)).allowed).toBe(true);
    await rl.close();
  });

  it("spends the monthly budget across windows and restores it on the 1st (UTC)", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 100, tokensPerMinute: 1000, monthlyTokenBudget: 1500 });
    const endOfMarch = Date.UTC(2026, 3, 1) - 1; // 2026-03-31T23:59:59.999Z
    expect((await rl.admit(id, tier, 1000, endOfMarch - 5 * MIN)).allowed).toBe(true);
    expect((await rl.admit(id, tier, 500, endOfMarch - 2 * MIN)).allowed).toBe(true); // exactly the budget
    const over = await rl.admit(id, tier, 1, endOfMarch);
    expect(over).toMatchObject({ allowed: false, reason: "monthly_budget", retryAfterSeconds: 1 });
    const earlier = await rl.admit(id, tier, 1, endOfMarch - 3600 * SEC + 1);
    expect(earlier).toMatchObject({ allowed: false, reason: "monthly_budget", retryAfterSeconds: 3600 });
    expect((await rl.admit(id, tier, 1000, endOfMarch + 1)).allowed).toBe(true); // April
    await rl.close();
  });

  it("reports the limit that keeps a request out longest", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 1, tokensPerMinute: 1000, monthlyTokenBudget: 100 });
    expect((await rl.admit(id, tier, 100, T0)).allowed).toBe(true);
    const both = await rl.admit(id, tier, 1, T0 + SEC);
    expect(both.reason).toBe("monthly_budget");
    expect(both.retryAfterSeconds).toBe((Date.UTC(2026, 3, 1) - T0 - SEC) / 1000);
    await rl.close();
  });

  it("refuses without retry-after a request larger than a limit can ever allow", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ tokensPerMinute: 1000, monthlyTokenBudget: 5000 });
    const big = await rl.admit(id, tier, 1001, T0);
    expect(big).toMatchObject({ allowed: false, reason: "tokens_per_minute", remainingTokens: 1000 });
    expect(big.retryAfterSeconds).toBeUndefined();
    const huge = await rl.admit(id, tierConfig({ tokensPerMinute: 10_000, monthlyTokenBudget: 5000 }), 6000, T0);
    expect(huge).toMatchObject({ allowed: false, reason: "monthly_budget" });
    expect(huge.retryAfterSeconds).toBeUndefined();
    await rl.close();
  });

  it("settles a reservation to the tokens actually used, in both directions", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 100, tokensPerMinute: 1000, monthlyTokenBudget: 10_000 });
    expect((await rl.admit(id, tier, 800, T0)).remainingTokens).toBe(200);
    expect((await rl.admit(id, tier, 300, T0 + SEC)).allowed).toBe(false);
    await rl.settle(id, tier, 800, 100, T0 + 2 * SEC); // used far fewer than estimated
    const after = await rl.admit(id, tier, 300, T0 + 3 * SEC);
    expect(after).toMatchObject({ allowed: true, remainingTokens: 600 });
    await rl.settle(id, tier, 300, 700, T0 + 4 * SEC); // used more than estimated
    expect((await rl.admit(id, tier, 0, T0 + 5 * SEC)).remainingTokens).toBe(200);
    await rl.settle(id, tier, 0, 0, T0 + 5 * SEC);
    await rl.close();
  });

  it("settles into the month the request was admitted in, and never below zero", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 100, tokensPerMinute: 1000, monthlyTokenBudget: 1000 });
    expect((await rl.admit(id, tier, 1000, T0)).allowed).toBe(true);
    await rl.settle(id, tier, 1000, 200, T0 + 10 * MIN); // later window, same month: the budget gets 800 back
    expect((await rl.admit(id, tier, 800, T0 + 11 * MIN)).allowed).toBe(true);
    expect((await rl.admit(id, tier, 1, T0 + 12 * MIN)).allowed).toBe(false);
    await rl.settle(id, tier, 1, 0, T0 + 12 * MIN); // nothing was reserved for the refused one: no change
    expect((await rl.admit(id, tier, 1, T0 + 13 * MIN)).allowed).toBe(false);
    await rl.close();
  });

  it("does not hand a finished window's refund to the current window", async () => {
    const rl = make();
    const id = tenant();
    const tier = tierConfig({ requestsPerMinute: 100, tokensPerMinute: 1000 });
    expect((await rl.admit(id, tier, 900, T0 + 50 * SEC)).allowed).toBe(true);
    expect((await rl.admit(id, tier, 900, T0 + MIN)).allowed).toBe(true); // new window
    await rl.settle(id, tier, 900, 0, T0 + MIN + SEC); // settles the first request (admitted last window)
    expect((await rl.admit(id, tier, 200, T0 + MIN + 2 * SEC)).allowed).toBe(false);
    await rl.settle(id, tier, 900, 0, T0 + MIN + 3 * SEC); // the second one: refunded in this window
    expect((await rl.admit(id, tier, 1000, T0 + MIN + 4 * SEC)).allowed).toBe(true);
    await rl.close();
  });
}
