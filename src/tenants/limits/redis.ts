/**
 * Limits from counters in Redis, so several gateway replicas share them. Window semantics: see
 * `window.ts`. Each admit is one Lua script (check all three limits, then count) and so atomic across
 * replicas; settles are one script too. Windows are keyed by the `now` the caller passes (replicas'
 * clocks should agree to well under a second).
 *
 * Keys (the tenant in a hash tag, so one tenant's keys share a cluster slot):
 *   <prefix>:{<tenant>}:min:<window start ms>  hash { r: requests, t: tokens }, expires a minute after the window
 *   <prefix>:{<tenant>}:mon:<YYYY-MM>          tokens this month, expires 35 days after the month
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { RateLimiter } from "../types.js";
import {
  evaluate,
  MINUTE_MS,
  minuteStart,
  monthKey,
  nextMonthStart,
  Reservations,
  settlement,
  tokenCount,
} from "./window.js";

export const DEFAULT_KEY_PREFIX = "tritgate:rl";

const ADMIT = `
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local t = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
local m = tonumber(redis.call('GET', KEYS[2]) or '0')
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local est = tonumber(ARGV[4])
if r + 1 <= rpm and t + est <= tpm and (budget == 0 or m + est <= budget) then
  redis.call('HINCRBY', KEYS[1], 'r', 1)
  redis.call('HINCRBY', KEYS[1], 't', est)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('INCRBY', KEYS[2], est)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  return {1, r, t, m}
end
return {0, r, t, m}
`;

const SETTLE = `
local d = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HINCRBY', KEYS[1], 't', d) < 0 then redis.call('HSET', KEYS[1], 't', 0) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('INCRBY', KEYS[2], d) < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
end
return 1
`;

export interface RedisRateLimiterOptions {
  /** Namespace for this gateway's keys (default `tritgate:rl`). */
  readonly keyPrefix?: string;
}

export function createRedisRateLimiter(url: string, options: RedisRateLimiterOptions = {}): RateLimiter {
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  // without a listener ioredis reports connection errors as unhandled; commands still reject
  redis.on("error", () => {});
  const reservations = new Reservations();

  const sha = (script: string) => createHash("sha1").update(script).digest("hex");
  const scripts = { admit: { text: ADMIT, sha: sha(ADMIT) }, settle: { text: SETTLE, sha: sha(SETTLE) } };

  async function run(script: { text: string; sha: string }, keys: string[], args: (string | number)[]) {
    try {
      return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!String((e as Error).message).includes("NOSCRIPT")) throw e;
      return redis.eval(script.text, keys.length, ...keys, ...args);
    }
  }

  const minuteKey = (tenantId: string, minute: number) => `${prefix}:{${tenantId}}:min:${minute}`;
  const monthKeyOf = (tenantId: string, month: string) => `${prefix}:{${tenantId}}:mon:${month}`;

  return {
    async admit(tenantId, tier, estimatedTokens, now) {
      const estimate = tokenCount(estimatedTokens);
      const minute = minuteStart(now);
      const minuteTtl = Math.max(1, Math.ceil(minute + 2 * MINUTE_MS - now));
      const monthTtl = Math.max(1, Math.ceil(nextMonthStart(now) + 35 * 86_400_000 - now));
      const reply = (await run(
        scripts.admit,
        [minuteKey(tenantId, minute), monthKeyOf(tenantId, monthKey(now))],
        [tier.requestsPerMinute, tier.tokensPerMinute, tier.monthlyTokenBudget, estimate, minuteTtl, monthTtl],
      )) as [number, number, number, number];
      const [admitted, requests, tokens, monthTokens] = reply.map(Number) as [number, number, number, number];
      const decision = evaluate({ requests, tokens, monthTokens }, tier, estimate, now);
      if (decision.allowed !== (admitted === 1)) {
        // cannot happen while the script and `evaluate` agree; never report a refusal as admitted
        throw new Error(`rate limiter disagreement: redis ${admitted === 1 ? "admitted" : "refused"}`);
      }
      if (decision.allowed) reservations.add(tenantId, estimate, now);
      return decision;
    },
    async settle(tenantId, _tier, estimatedTokens, actualTokens, now) {
      const estimate = tokenCount(estimatedTokens);
      const s = settlement(reservations.take(tenantId, estimate), estimate, tokenCount(actualTokens), now);
      if (s.delta === 0) return;
      await run(scripts.settle, [minuteKey(tenantId, s.minute), monthKeyOf(tenantId, s.month)], [s.delta]);
    },
    async close() {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
