/** `createRateLimiter`: Redis-backed counters when a Redis URL is given (or `REDIS_URL` is set), else in-memory. */
import type { RateLimiter } from "../types.js";
import { createMemoryRateLimiter } from "./memory.js";
import { createRedisRateLimiter, type RedisRateLimiterOptions } from "./redis.js";

export { createMemoryRateLimiter } from "./memory.js";
export { createRedisRateLimiter, DEFAULT_KEY_PREFIX, type RedisRateLimiterOptions } from "./redis.js";
export { evaluate, MINUTE_MS, minuteStart, monthKey, nextMonthStart, type Usage } from "./window.js";

export interface RateLimiterOptions extends RedisRateLimiterOptions {
  /** Overrides `REDIS_URL`; an empty string forces the in-memory limiter. */
  readonly redisUrl?: string | undefined;
}

export function createRateLimiter(options: RateLimiterOptions = {}, env: NodeJS.ProcessEnv = process.env): RateLimiter {
  const url = options.redisUrl ?? env.REDIS_URL;
  if (url === undefined || url === "") return createMemoryRateLimiter();
  return createRedisRateLimiter(url, options);
}

/** Which limiter `createRateLimiter` would build (for the start-up log). */
export function rateLimiterKind(
  options: RateLimiterOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): "redis" | "memory" {
  const url = options.redisUrl ?? env.REDIS_URL;
  return url === undefined || url === "" ? "memory" : "redis";
}
