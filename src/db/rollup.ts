/** The daily_usage rows a set of newly inserted requests adds (pure; the recorder upserts them). */
import { dayOf, type RecordEntry } from "./entry.js";
import { type dailyUsage, NO_VARIANT } from "./schema.js";

export type DailyUsageInsert = typeof dailyUsage.$inferInsert;

/** A routed request that took longer than its decision's SLA allowed (TTFT when it has one, or total). */
export function missedSla(entry: RecordEntry): boolean {
  const { request, decision } = entry;
  if (!decision) return false;
  const ttft = request.ttftMs;
  return (ttft !== null && ttft !== undefined && ttft > decision.sla.ttftMs) || request.totalMs > decision.sla.totalMs;
}

/**
 * Sums per (day, tenant, variant), sorted by that key: every replica upserts the rows of a batch in the
 * same order, so two replicas updating the same rollups lock them in one order and cannot deadlock.
 */
export function rollUp(entries: readonly RecordEntry[]): DailyUsageInsert[] {
  const byKey = new Map<string, DailyUsageInsert>();
  for (const entry of entries) {
    const r = entry.request;
    const day = dayOf(r.createdAt);
    const variant = r.variant ?? NO_VARIANT;
    const key = `${day}\u0000${r.tenantId}\u0000${variant}`;
    let row = byKey.get(key);
    if (!row) {
      row = {
        day,
        tenantId: r.tenantId,
        variant,
        requests: 0,
        errors: 0,
        slaMisses: 0,
        degraded: 0,
        escalated: 0,
        cacheHits: 0,
        tokensIn: 0,
        tokensOut: 0,
        totalMs: 0,
        cpuMs: 0,
        energyJ: 0,
        cost: 0,
        price: 0,
        counterfactualCost: 0,
      };
      byKey.set(key, row);
    }
    row.requests += 1;
    row.errors += r.status >= 400 ? 1 : 0;
    row.slaMisses += missedSla(entry) ? 1 : 0;
    row.degraded += r.degraded ? 1 : 0;
    row.escalated += r.escalated ? 1 : 0;
    row.cacheHits += r.cacheHit ? 1 : 0;
    row.tokensIn += r.tokensIn;
    row.tokensOut += r.tokensOut;
    row.totalMs += r.totalMs;
    row.cpuMs += r.cpuMs ?? 0;
    row.energyJ += r.energyJ ?? 0;
    row.cost += r.cost ?? 0;
    row.price += r.price ?? 0;
    row.counterfactualCost += r.counterfactualCost ?? 0;
  }
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byKey.values()].sort(
    (a, b) => compare(a.day, b.day) || compare(a.tenantId, b.tenantId) || compare(a.variant, b.variant),
  );
}
