import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tierConfig } from "../testkit.js";
import { rateLimiterContract } from "./contract.js";
import { createRateLimiter, rateLimiterKind } from "./index.js";
import { createMemoryRateLimiter } from "./memory.js";
import { monthKey, nextMonthStart } from "./window.js";

describe("memory rate limiter", () => {
  rateLimiterContract(createMemoryRateLimiter);

  it("never admits more than the limits within one window (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.record({ tokens: fc.integer({ min: 0, max: 200 }), at: fc.integer({ min: 0, max: 59_999 }) }), {
          maxLength: 40,
        }),
        async (rpm, tpm, requests) => {
          const rl = createMemoryRateLimiter();
          const tier = tierConfig({ requestsPerMinute: rpm, tokensPerMinute: tpm });
          let admitted = 0;
          let tokens = 0;
          for (const r of [...requests].sort((a, b) => a.at - b.at)) {
            const d = await rl.admit("t", tier, r.tokens, 6_000_000 + r.at);
            if (d.allowed) {
              admitted++;
              tokens += r.tokens;
              expect(d.remainingRequests).toBe(rpm - admitted);
              expect(d.remainingTokens).toBe(tpm - tokens);
            } else expect(d.retryAfterSeconds === undefined || d.retryAfterSeconds >= 1).toBe(true);
          }
          expect(admitted).toBeLessThanOrEqual(rpm);
          expect(tokens).toBeLessThanOrEqual(tpm);
        },
      ),
    );
  });
});

describe("UTC months", () => {
  it("name the month and find the next one's start", () => {
    expect(monthKey(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe("2026-12");
    expect(monthKey(Date.UTC(2027, 0, 1))).toBe("2027-01");
    expect(nextMonthStart(Date.UTC(2026, 11, 15))).toBe(Date.UTC(2027, 0, 1));
    expect(nextMonthStart(Date.UTC(2028, 1, 29, 12))).toBe(Date.UTC(2028, 2, 1));
  });
});

describe("createRateLimiter", () => {
  it("picks Redis only when a URL is given or REDIS_URL is set", async () => {
    expect(rateLimiterKind({}, {})).toBe("memory");
    expect(rateLimiterKind({}, { REDIS_URL: "redis://127.0.0.1:6379" })).toBe("redis");
    expect(rateLimiterKind({ redisUrl: "" }, { REDIS_URL: "redis://127.0.0.1:6379" })).toBe("memory");
    const rl = createRateLimiter({}, {});
    expect((await rl.admit("t", tierConfig(), 1, 0)).allowed).toBe(true);
    await rl.close();
  });
});
