/**
 * The gateway's own recent requests, for the live page: a bounded ring the observer appends to, and
 * a pure summary over the last few minutes in fixed buckets. It needs no Prometheus and no Grafana.
 */
import type { RequestMetricsInput } from "./observe.js";

export interface RecentRequest {
  /** ms since epoch, when it was observed (its end) */
  readonly at: number;
  readonly tier: string;
  readonly variant: string | null;
  readonly engine: string | null;
  readonly status: number;
  readonly stream: boolean;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly ttftMs: number | null;
  readonly totalMs: number;
  readonly cost: number | null;
  readonly counterfactualCost: number | null;
  readonly energyJ: number | null;
  readonly reason: string | null;
  readonly degraded: boolean;
  readonly fallback: boolean;
  readonly escalated: boolean;
}

export class RecentRequests {
  private readonly ring: (RecentRequest | undefined)[];
  private next = 0;

  constructor(capacity = 5000) {
    this.ring = new Array<RecentRequest | undefined>(Math.max(1, capacity));
  }

  add(at: number, input: RequestMetricsInput): void {
    this.ring[this.next] = {
      at,
      tier: input.tier,
      variant: input.variant,
      engine: input.engine,
      status: input.status,
      stream: input.stream,
      tokensIn: input.tokensIn,
      tokensOut: input.tokensOut,
      ttftMs: input.ttftMs,
      totalMs: input.totalMs,
      cost: input.cost,
      counterfactualCost: input.counterfactualCost,
      energyJ: input.energy?.joules ?? null,
      reason: input.reason,
      degraded: input.degraded,
      fallback: input.fallback,
      escalated: input.escalated,
    };
    this.next = (this.next + 1) % this.ring.length;
  }

  /** Oldest first. */
  entries(): RecentRequest[] {
    const out: RecentRequest[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const entry = this.ring[(this.next + i) % this.ring.length];
      if (entry) out.push(entry);
    }
    return out;
  }
}

export interface TierSla {
  readonly name: string;
  readonly ttftSlaMs: number;
  readonly totalSlaMs: number;
}

export interface RecentSummary {
  readonly now: number;
  readonly bucketSeconds: number;
  /** bucket starts, seconds since epoch */
  readonly t: readonly number[];
  readonly variants: readonly string[];
  readonly tokensPerSecond: Readonly<Record<string, readonly number[]>>;
  /** null where the bucket had no tokens on that variant */
  readonly costPerMillionTokens: Readonly<Record<string, readonly (number | null)[]>>;
  readonly energyJoulesPerMillionTokens: Readonly<Record<string, readonly (number | null)[]>>;
  /** share of answered requests on a ternary (bitnet) variant */
  readonly ternaryShare: readonly (number | null)[];
  /** 1 − cost / fp32-counterfactual cost */
  readonly savings: readonly (number | null)[];
  readonly tiers: readonly {
    readonly name: string;
    readonly ttftSlaMs: number | null;
    readonly totalSlaMs: number | null;
    readonly ttftP95Ms: readonly (number | null)[];
    readonly totalP95Ms: readonly (number | null)[];
    /** over the whole window */
    readonly requests: number;
    readonly ttftP95WindowMs: number | null;
    readonly totalP95WindowMs: number | null;
  }[];
  readonly decisions: readonly RecentRequest[];
}

export interface SummaryOptions {
  readonly windowSeconds?: number;
  readonly bucketSeconds?: number;
  readonly decisions?: number;
  readonly tiers?: readonly TierSla[];
}

/** Nearest-rank p95; null for no values. */
function p95(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export function summarize(entries: readonly RecentRequest[], now: number, options: SummaryOptions = {}): RecentSummary {
  const bucketSeconds = options.bucketSeconds ?? 5;
  const windowSeconds = options.windowSeconds ?? 300;
  const buckets = Math.max(1, Math.floor(windowSeconds / bucketSeconds));
  const bucketMs = bucketSeconds * 1000;
  const lastStart = Math.floor(now / bucketMs) * bucketMs;
  const firstStart = lastStart - (buckets - 1) * bucketMs;
  const t = Array.from({ length: buckets }, (_, i) => (firstStart + i * bucketMs) / 1000);
  const inWindow = entries.filter((e) => e.at >= firstStart && e.at < lastStart + bucketMs);
  const bucketOf = (e: RecentRequest) => Math.floor((e.at - firstStart) / bucketMs);

  const answered = inWindow.filter((e) => e.variant !== null);
  const variants = [...new Set(answered.map((e) => e.variant!))].sort();
  const perVariant = <T>(fill: () => T) => Object.fromEntries(variants.map((v) => [v, fill()])) as Record<string, T>;
  const tokens = perVariant(() => new Array<number>(buckets).fill(0));
  const cost = perVariant(() => new Array<number>(buckets).fill(0));
  const energy = perVariant(() => new Array<number>(buckets).fill(0));
  const requests = new Array<number>(buckets).fill(0);
  const ternary = new Array<number>(buckets).fill(0);
  const spent = new Array<number>(buckets).fill(0);
  const counterfactual = new Array<number>(buckets).fill(0);
  for (const e of answered) {
    const b = bucketOf(e);
    const v = e.variant!;
    tokens[v]![b]! += e.tokensIn + e.tokensOut;
    cost[v]![b]! += e.cost ?? 0;
    energy[v]![b]! += e.energyJ ?? 0;
    requests[b]! += 1;
    if (e.engine === "bitnet") ternary[b]! += 1;
    if (e.cost !== null && e.counterfactualCost !== null) {
      spent[b]! += e.cost;
      counterfactual[b]! += e.counterfactualCost;
    }
  }
  const outputPerSecond = perVariant(() => new Array<number>(buckets).fill(0));
  for (const e of answered) outputPerSecond[e.variant!]![bucketOf(e)]! += e.tokensOut / bucketSeconds;
  const perMillion = (amount: Record<string, number[]>) =>
    Object.fromEntries(
      variants.map((v) => [v, amount[v]!.map((x, i) => (tokens[v]![i]! > 0 ? (1e6 * x) / tokens[v]![i]! : null))]),
    );

  const configured = new Map((options.tiers ?? []).map((tier) => [tier.name, tier]));
  const tierNames = [...new Set([...configured.keys(), ...inWindow.map((e) => e.tier)])].sort();
  const tiers = tierNames.map((name) => {
    const own = answered.filter((e) => e.tier === name);
    const ttft = Array.from({ length: buckets }, () => [] as number[]);
    const total = Array.from({ length: buckets }, () => [] as number[]);
    for (const e of own) {
      if (e.ttftMs !== null) ttft[bucketOf(e)]!.push(e.ttftMs);
      total[bucketOf(e)]!.push(e.totalMs);
    }
    return {
      name,
      ttftSlaMs: configured.get(name)?.ttftSlaMs ?? null,
      totalSlaMs: configured.get(name)?.totalSlaMs ?? null,
      ttftP95Ms: ttft.map(p95),
      totalP95Ms: total.map(p95),
      requests: own.length,
      ttftP95WindowMs: p95(own.flatMap((e) => (e.ttftMs === null ? [] : [e.ttftMs]))),
      totalP95WindowMs: p95(own.map((e) => e.totalMs)),
    };
  });

  return {
    now,
    bucketSeconds,
    t,
    variants,
    tokensPerSecond: outputPerSecond,
    costPerMillionTokens: perMillion(cost),
    energyJoulesPerMillionTokens: perMillion(energy),
    ternaryShare: requests.map((n, i) => ratio(ternary[i]!, n)),
    savings: counterfactual.map((c, i) => {
      const r = ratio(spent[i]!, c);
      return r === null ? null : 1 - r;
    }),
    tiers,
    decisions: entries
      .filter((e) => e.reason !== null)
      .slice(-(options.decisions ?? 20))
      .reverse(),
  };
}
