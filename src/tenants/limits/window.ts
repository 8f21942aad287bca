/**
 * The limit arithmetic both limiters share, as pure functions of the counts and `now`.
 *
 * Windows: requests/minute and tokens/minute are counted in FIXED one-minute windows aligned to the
 * UTC minute (a window holds [hh:mm:00.000, hh:mm+1:00.000)); all of a window's capacity returns at
 * its end, so `reset*` and `retry-after` are the time to the next minute boundary. (Fixed windows allow
 * up to twice the limit across a boundary; they are what several replicas can share exactly and cheaply.)
 * The monthly budget counts tokens per UTC calendar month and resets at 00:00 UTC on the 1st.
 *
 * A request is admitted when all three hold: requests + 1 ≤ rpm, tokens + estimate ≤ tpm,
 * month + estimate ≤ budget (budget 0 = unlimited). A refused request is not counted. A request whose
 * estimate alone exceeds the tokens/minute limit or the monthly budget can never pass: it is refused
 * without `retryAfterSeconds`.
 *
 * Settling attributes the difference (actual − estimate) to the windows the request was admitted in
 * (never below zero): a minute window that has already ended is not revisited. A settle that matches
 * no open reservation of this process (e.g. for a refused request) only ever adds usage, never refunds.
 */
import type { LimitDecision, LimitReason, TierConfig } from "../types.js";

export const MINUTE_MS = 60_000;

/** The counts before this request. */
export interface Usage {
  readonly requests: number;
  readonly tokens: number;
  readonly monthTokens: number;
}

export function minuteStart(now: number): number {
  return Math.floor(now / MINUTE_MS) * MINUTE_MS;
}

/** `YYYY-MM` of the UTC month containing `now`. */
export function monthKey(now: number): string {
  const d = new Date(now);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** ms since epoch of the first instant of the next UTC month. */
export function nextMonthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Token counts are whole and never negative. */
export function tokenCount(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}

function retryAfter(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Whether and how a request with `estimatedTokens` fits `usage`, with the x-ratelimit-* figures. */
export function evaluate(usage: Usage, tier: TierConfig, estimatedTokens: number, now: number): LimitDecision {
  const estimate = tokenCount(estimatedTokens);
  const windowEndMs = minuteStart(now) + MINUTE_MS - now;
  const failures: { reason: LimitReason; retry: number | undefined }[] = [];
  const budget = tier.monthlyTokenBudget;
  if (budget > 0 && usage.monthTokens + estimate > budget)
    failures.push({
      reason: "monthly_budget",
      retry: estimate > budget ? undefined : retryAfter(nextMonthStart(now) - now),
    });
  if (usage.tokens + estimate > tier.tokensPerMinute)
    failures.push({
      reason: "tokens_per_minute",
      retry: estimate > tier.tokensPerMinute ? undefined : retryAfter(windowEndMs),
    });
  if (usage.requests + 1 > tier.requestsPerMinute)
    failures.push({ reason: "requests_per_minute", retry: retryAfter(windowEndMs) });

  const allowed = failures.length === 0;
  const figures = {
    limitRequests: tier.requestsPerMinute,
    remainingRequests: Math.max(0, tier.requestsPerMinute - usage.requests - (allowed ? 1 : 0)),
    limitTokens: tier.tokensPerMinute,
    remainingTokens: Math.max(0, tier.tokensPerMinute - usage.tokens - (allowed ? estimate : 0)),
    resetRequestsSeconds: windowEndMs / 1000,
    resetTokensSeconds: windowEndMs / 1000,
    ...(budget > 0
      ? { remainingBudgetTokens: Math.max(0, budget - usage.monthTokens - (allowed ? estimate : 0)) }
      : {}),
  };
  if (allowed) return { allowed: true, ...figures };
  // the reason reported is what keeps the request out longest (never, else the latest retry)
  const worst = failures.reduce((a, b) =>
    a.retry === undefined ? a : b.retry === undefined || b.retry > a.retry ? b : a,
  );
  return worst.retry === undefined
    ? { allowed: false, reason: worst.reason, ...figures }
    : { allowed: false, reason: worst.reason, retryAfterSeconds: worst.retry, ...figures };
}

/**
 * Where a settle's difference goes: the reservation's windows, or — with no reservation to match —
 * the current windows, and then only extra usage (a refund needs a reservation).
 */
export function settlement(
  reservation: Reservation | undefined,
  estimate: number,
  actual: number,
  now: number,
): { readonly minute: number; readonly month: string; readonly delta: number } {
  const delta = actual - estimate;
  if (reservation) return { minute: reservation.minute, month: reservation.month, delta };
  return { minute: minuteStart(now), month: monthKey(now), delta: Math.max(0, delta) };
}

export interface Reservation {
  readonly estimate: number;
  readonly minute: number;
  readonly month: string;
}

/**
 * Admitted requests not yet settled, per tenant, so that a settle finds the windows its request was
 * admitted in (`settle` is called by the process that called `admit`). Bounded: the oldest are dropped.
 */
export class Reservations {
  private readonly byTenant = new Map<string, Reservation[]>();
  constructor(private readonly maxPerTenant = 10_000) {}

  add(tenantId: string, estimate: number, now: number): void {
    let list = this.byTenant.get(tenantId);
    if (!list) {
      list = [];
      this.byTenant.set(tenantId, list);
    }
    list.push({ estimate, minute: minuteStart(now), month: monthKey(now) });
    if (list.length > this.maxPerTenant) list.shift();
  }

  /** Removes and returns the oldest open reservation of this size, if any. */
  take(tenantId: string, estimate: number): Reservation | undefined {
    const list = this.byTenant.get(tenantId);
    const i = list ? list.findIndex((r) => r.estimate === estimate) : -1;
    if (list && i >= 0) {
      const [found] = list.splice(i, 1);
      if (list.length === 0) this.byTenant.delete(tenantId);
      return found;
    }
    return undefined;
  }

  size(tenantId: string): number {
    return this.byTenant.get(tenantId)?.length ?? 0;
  }
}
