/**
 * Test helpers for reports: request rows spread over days, tenants and variants, and what a report of
 * them must say, summed here from the rows themselves (not from the rollup). Money, times and energy
 * are multiples of 1/64, so sums are exact in any order and reports can be compared with `toEqual`.
 */
import type { Candidate } from "../../../router/index.js";
import type { RecordEntry } from "../entry.js";
import type { Database } from "../open.js";
import { DatabaseRecorder } from "../recorder.js";

export const REPORT_DAYS = ["2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"] as const;
export const REPORT_TENANTS = ["acme", "globex", "initech"] as const;
/** the clock the rows are recorded under: the last day above, late */
export const REPORT_NOW = Date.parse("2026-12-01T23:00:00.000Z");

function candidate(variant: string, i: number): Candidate {
  return {
    variant,
    family: "nano",
    engine: variant.endsWith("fp32") ? "onnx" : "bitnet",
    quality: variant.endsWith("fp32") ? 1 : 0.75,
    prediction: {
      loadMs: 0,
      queueMs: i % 3,
      prefillMs: 4,
      decodeMs: 40,
      ttftMs: 4 + (i % 3),
      totalMs: 44 + (i % 3),
      cpuSeconds: 0.125,
      cost: 1 / 64,
      energyJ: 0.5,
      price: 1 / 32,
    },
    allowed: true,
    healthy: true,
    meetsQuality: true,
    meetsTtft: true,
    meetsTotal: i % 4 !== 0,
    feasible: i % 4 !== 0,
    issues: i % 4 === 0 ? ["total_over_sla"] : [],
  };
}

/** Entry `i`: every seventh answered by no variant (503); the rest alternately ternary and fp32. */
export function usageEntry(i: number): RecordEntry {
  const day = REPORT_DAYS[i % REPORT_DAYS.length] as string;
  const tenantId = REPORT_TENANTS[i % REPORT_TENANTS.length] as string;
  const variant = i % 7 === 0 ? null : i % 2 === 0 ? "nano-b158" : "nano-fp32";
  const createdAt = `${day}T${String(i % 24).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}:00.${String(i % 1000).padStart(3, "0")}Z`;
  const requestId = `req-usage-${i}`;
  const cost = variant === null ? null : ((i % 4) + 1) / 64;
  return {
    request: {
      requestId,
      createdAt,
      endpoint: "/v1/chat/completions",
      tenantId,
      keyId: `key-${tenantId}`,
      tier: "standard",
      model: "auto",
      variant,
      variantVersion: variant === null ? null : "1",
      status: variant === null ? 503 : i % 13 === 0 ? 400 : 200,
      stream: i % 2 === 1,
      tokensIn: 10 + (i % 13),
      tokensOut: variant === null ? 0 : 5 + (i % 17),
      queueMs: variant === null ? null : i % 3,
      ttftMs: variant === null ? null : 20 + (i % 7) * 10,
      totalMs: 100 + (i % 11) * 25,
      cpuMs: variant === null ? null : (i % 9) * 0.5,
      energyJ: variant === null ? null : (i % 5) / 8,
      cost,
      price: (i % 3) / 32,
      // the fp32 twin costs 4× what ternary does; an fp32 answer is its own counterfactual
      counterfactualCost: cost === null ? null : variant === "nano-b158" ? cost * 4 : cost,
      cacheHit: i % 8 === 0,
      degraded: i % 6 === 0,
      escalated: i % 10 === 0,
      errorCode: variant === null ? "no_variant" : i % 13 === 0 ? "context_length_exceeded" : null,
    },
    decision: {
      decisionId: `dec-usage-${i}`,
      requestId,
      strategy: "sla",
      qualityNeed: 0.5,
      sla: { ttftMs: 50, totalMs: 300 },
      load: { "nano-b158": { running: i % 2, waiting: 0 } },
      candidates: [candidate("nano-b158", i), candidate("nano-fp32", i)],
      chosen: variant ?? "nano-b158",
      reason: "cheapest_feasible",
      fallbackChain: variant === null ? ["nano-b158", "nano-fp32"] : [variant],
      degraded: i % 6 === 0,
    },
  };
}

export function usageEntries(count: number): RecordEntry[] {
  return Array.from({ length: count }, (_, i) => usageEntry(i));
}

/** Writes entries through the real recorder (journal in `journalDir`) and waits until they are committed. */
export async function recordThrough(
  database: Database,
  journalDir: string,
  list: readonly RecordEntry[],
): Promise<void> {
  const errors: string[] = [];
  const recorder = await DatabaseRecorder.start({
    database,
    journalDir,
    now: () => REPORT_NOW,
    onError: (e, context) => errors.push(`${context}: ${e.message}`),
  });
  for (const e of list) recorder.enqueue(e.request, e.decision);
  await recorder.close();
  const stats = recorder.stats();
  if (errors.length > 0 || stats.rejected > 0 || stats.lost > 0)
    throw new Error(`recording failed: ${errors.join("; ")}`);
}

/** The figures a report of these entries must show, summed from the rows (null counts 0). */
export interface ExpectedSums {
  requests: number;
  errors: number;
  slaMisses: number;
  degraded: number;
  escalated: number;
  cacheHits: number;
  tokensIn: number;
  tokensOut: number;
  totalMs: number;
  cpuMs: number;
  energyJ: number;
  cost: number;
  price: number;
  counterfactualCost: number;
}

export function sumsOf(list: readonly RecordEntry[]): ExpectedSums {
  const s: ExpectedSums = {
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
  for (const { request: r, decision: d } of list) {
    s.requests += 1;
    if (r.status >= 400) s.errors += 1;
    // the SLA definition: TTFT or total time over what the decision promised
    if (d && ((r.ttftMs ?? 0) > d.sla.ttftMs || r.totalMs > d.sla.totalMs)) s.slaMisses += 1;
    if (r.degraded) s.degraded += 1;
    if (r.escalated) s.escalated += 1;
    if (r.cacheHit) s.cacheHits += 1;
    s.tokensIn += r.tokensIn;
    s.tokensOut += r.tokensOut;
    s.totalMs += r.totalMs;
    s.cpuMs += r.cpuMs ?? 0;
    s.energyJ += r.energyJ ?? 0;
    s.cost += r.cost ?? 0;
    s.price += r.price ?? 0;
    s.counterfactualCost += r.counterfactualCost ?? 0;
  }
  return s;
}

/** Entries of a tenant (or all) whose UTC day is within [from, to]. */
export function within(list: readonly RecordEntry[], from: string, to: string, tenantId?: string): RecordEntry[] {
  return list.filter((e) => {
    const day = e.request.createdAt.slice(0, 10);
    return day >= from && day <= to && (tenantId === undefined || e.request.tenantId === tenantId);
  });
}
