/** Limits from counters in this process (one gateway replica). Window semantics: see `window.ts`. */
import type { RateLimiter } from "../types.js";
import { evaluate, minuteStart, monthKey, Reservations, settlement, tokenCount } from "./window.js";

interface TenantCounters {
  minute: number;
  requests: number;
  tokens: number;
  /** tokens per `YYYY-MM`; the current and previous month are kept */
  months: Map<string, number>;
}

export function createMemoryRateLimiter(): RateLimiter {
  const counters = new Map<string, TenantCounters>();
  const reservations = new Reservations();

  function current(tenantId: string, now: number): TenantCounters {
    const minute = minuteStart(now);
    let c = counters.get(tenantId);
    if (!c) {
      c = { minute, requests: 0, tokens: 0, months: new Map() };
      counters.set(tenantId, c);
    } else if (c.minute !== minute && minute > c.minute) {
      c.minute = minute;
      c.requests = 0;
      c.tokens = 0;
    }
    return c;
  }

  return {
    async admit(tenantId, tier, estimatedTokens, now) {
      const c = current(tenantId, now);
      const month = monthKey(now);
      const decision = evaluate(
        { requests: c.requests, tokens: c.tokens, monthTokens: c.months.get(month) ?? 0 },
        tier,
        estimatedTokens,
        now,
      );
      if (decision.allowed) {
        const estimate = tokenCount(estimatedTokens);
        c.requests += 1;
        c.tokens += estimate;
        c.months.set(month, (c.months.get(month) ?? 0) + estimate);
        if (c.months.size > 2)
          for (const key of [...c.months.keys()].sort().slice(0, c.months.size - 2)) c.months.delete(key);
        reservations.add(tenantId, estimate, now);
      }
      return decision;
    },
    async settle(tenantId, _tier, estimatedTokens, actualTokens, now) {
      const estimate = tokenCount(estimatedTokens);
      const s = settlement(reservations.take(tenantId, estimate), estimate, tokenCount(actualTokens), now);
      const c = current(tenantId, now);
      if (s.delta === 0) return;
      if (c.minute === s.minute) c.tokens = Math.max(0, c.tokens + s.delta);
      const used = c.months.get(s.month);
      if (used !== undefined || s.month === monthKey(now)) c.months.set(s.month, Math.max(0, (used ?? 0) + s.delta));
    },
    async close() {
      counters.clear();
    },
  };
}
