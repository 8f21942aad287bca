/** Against the real Redis at REDIS_TEST_URL (default redis://127.0.0.1:6379), under a key prefix of this run only. */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tierConfig } from "../testkit.js";
import type { RateLimiter } from "../types.js";
import { rateLimiterContract } from "./contract.js";
import { createRateLimiter } from "./index.js";
import { createRedisRateLimiter } from "./redis.js";

const URL = process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `tritgate-test:${process.pid}:${randomBytes(4).toString("hex")}`;
const T0 = Date.UTC(2026, 4, 20, 8, 0, 0);

describe("redis rate limiter", () => {
  const admin = new Redis(URL, { maxRetriesPerRequest: 1 });
  const opened: RateLimiter[] = [];
  const make = () => {
    const rl = createRedisRateLimiter(URL, { keyPrefix: PREFIX });
    opened.push(rl);
    return rl;
  };

  async function ourKeys(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await admin.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    return keys;
  }

  beforeAll(async () => {
    expect(await admin.ping()).toBe("PONG");
  });

  afterAll(async () => {
    await Promise.all(opened.map((rl) => rl.close()));
    const keys = await ourKeys();
    if (keys.length > 0) await admin.del(...keys);
    expect(await ourKeys()).toEqual([]);
    await admin.quit();
  });

  rateLimiterContract(make);

  it("shares counts between two limiter instances (two replicas)", async () => {
    const a = make();
    const b = make();
    const tier = tierConfig({ requestsPerMinute: 4, tokensPerMinute: 1000, monthlyTokenBudget: 5000 });
    expect(await a.admit("shared", tier, 300, T0)).toMatchObject({ allowed: true, remainingRequests: 3 });
    expect(await b.admit("shared", tier, 300, T0 + 1000)).toMatchObject({
      allowed: true,
      remainingRequests: 2,
      remainingTokens: 400,
    });
    expect(await a.admit("shared", tier, 500, T0 + 2000)).toMatchObject({
      allowed: false,
      reason: "tokens_per_minute",
    });
    await b.settle("shared", tier, 300, 0, T0 + 3000); // b's request used nothing: a sees the room
    expect(await a.admit("shared", tier, 500, T0 + 4000)).toMatchObject({ allowed: true, remainingRequests: 1 });
    expect(await b.admit("shared", tier, 0, T0 + 5000)).toMatchObject({ allowed: true, remainingRequests: 0 });
    expect(await a.admit("shared", tier, 0, T0 + 6000)).toMatchObject({
      allowed: false,
      reason: "requests_per_minute",
    });
  });

  it("admits exactly the limit under concurrent admits from several instances (atomic)", async () => {
    const limiters = [make(), make(), make()];
    const tier = tierConfig({ requestsPerMinute: 25, tokensPerMinute: 1_000_000 });
    const decisions = await Promise.all(
      Array.from({ length: 90 }, (_, i) => limiters[i % 3]?.admit("race", tier, 7, T0 + 10_000) ?? Promise.reject()),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(25);
    const remaining = decisions.filter((d) => d.allowed).map((d) => d.remainingRequests);
    expect(new Set(remaining).size).toBe(25); // each admitted request saw a distinct count
    const stored = await admin.hgetall(`${PREFIX}:{race}:min:${T0}`);
    expect(stored).toEqual({ r: "25", t: String(25 * 7) });
    const ttl = await admin.pttl(`${PREFIX}:{race}:min:${T0}`);
    expect(ttl).toBeGreaterThan(0);
  });

  it("keeps the monthly count under a key that outlives the month", async () => {
    const rl = make();
    await rl.admit("monthly", tierConfig({ monthlyTokenBudget: 100 }), 40, T0);
    expect(await admin.get(`${PREFIX}:{monthly}:mon:2026-05`)).toBe("40");
    expect(await admin.pttl(`${PREFIX}:{monthly}:mon:2026-05`)).toBeGreaterThan(Date.UTC(2026, 5, 1) - T0);
  });

  it("is what createRateLimiter builds for a redis URL", async () => {
    const rl = createRateLimiter({ redisUrl: URL, keyPrefix: PREFIX });
    opened.push(rl);
    expect((await rl.admit("factory", tierConfig(), 5, T0)).allowed).toBe(true);
    expect(await admin.hget(`${PREFIX}:{factory}:min:${T0}`, "t")).toBe("5");
  });

  it("rejects admits when Redis is unreachable instead of waving requests through", async () => {
    const rl = createRedisRateLimiter("redis://127.0.0.1:1", { keyPrefix: PREFIX });
    await expect(rl.admit("x", tierConfig(), 1, T0)).rejects.toThrow();
    await rl.close();
  });
});
