/**
 * The capacity signal an autoscaler reads (`tritgate_capacity_recommended_replicas`): how many
 * replicas like this one the load this replica sees would need. Each replica reports for itself
 * (its own replica count is 1), so the sum over the replicas is the fleet's need; an HPA on an
 * External metric `sum(tritgate_capacity_recommended_replicas)` with a target average value of 1
 * sets the replica count to that sum rounded up (docs/CAPACITY.md).
 *
 *   occupancy(v)  = (running + waiting) / slots               per variant that can serve now
 *   queueDemand   = max over those variants of occupancy(v) / targetOccupancy
 *   slaDemand     = p95 over the window of TTFT / the tier's TTFT SLA, once the window holds
 *                   minSamples requests and only when it is above 1; else 0
 *   recommended   = max(queueDemand, slaDemand)
 *
 * The busiest variant decides, not the average over variants: requests pinned to (or routed to) one
 * variant queue there however idle the others are, and another replica adds slots to every variant.
 * SLA misses only ever add: a p95 within the SLA says nothing about how many fewer replicas would
 * still hold it, so scaling in is left to occupancy. The value is not rounded, and an idle replica
 * reports 0 (not 1), so summing over replicas does not add a replica per replica; the HPA's
 * minReplicas is the floor.
 */

export interface VariantLoad {
  readonly running: number;
  readonly waiting: number;
  readonly slots: number;
  /** false for a variant that cannot take requests now (failed, loading, breaker open): its slots do not count */
  readonly serving: boolean;
}

export interface CapacityPolicy {
  /** occupancy a replica should run at: above it, more replicas are recommended; in (0, 1] */
  readonly targetOccupancy: number;
  /** requests the SLA window must hold before its p95 counts */
  readonly minSamples: number;
  /** how far back the SLA window looks, ms */
  readonly windowMs: number;
}

export const DEFAULT_CAPACITY_POLICY: CapacityPolicy = { targetOccupancy: 0.8, minSamples: 20, windowMs: 60_000 };

export interface CapacityInput {
  readonly variants: readonly VariantLoad[];
  /** p95 of TTFT / TTFT SLA over the window, with how many requests it is over */
  readonly ttftSla: { readonly p95Ratio: number; readonly samples: number } | null;
}

/** Replicas like this one the load it sees needs (see the module comment); ≥ 0, finite. */
export function recommendedReplicas(input: CapacityInput, policy: CapacityPolicy = DEFAULT_CAPACITY_POLICY): number {
  const target = policy.targetOccupancy > 0 && policy.targetOccupancy <= 1 ? policy.targetOccupancy : 1;
  let occupancy = 0;
  for (const v of input.variants) {
    const slots = count(v.slots);
    if (!v.serving || slots === 0) continue;
    occupancy = Math.max(occupancy, (count(v.running) + count(v.waiting)) / slots);
  }
  const queueDemand = occupancy / target;
  const sla = input.ttftSla;
  const slaDemand =
    sla !== null && sla.samples >= policy.minSamples && Number.isFinite(sla.p95Ratio) && sla.p95Ratio > 1
      ? sla.p95Ratio
      : 0;
  return Math.max(queueDemand, slaDemand);
}

/**
 * The recent requests' TTFT over their tier's TTFT SLA, with when each was seen: a bounded ring (the
 * oldest go first when it is full), read as a nearest-rank p95 over the last `windowMs`.
 */
export class TtftSlaWindow {
  private readonly at: Float64Array;
  private readonly ratio: Float64Array;
  private next = 0;
  private size = 0;

  constructor(capacity = 4096) {
    const n = Math.max(1, Math.floor(capacity));
    this.at = new Float64Array(n);
    this.ratio = new Float64Array(n);
  }

  add(atMs: number, ttftMs: number, ttftSlaMs: number): void {
    if (!(ttftSlaMs > 0) || !Number.isFinite(ttftMs) || ttftMs < 0) return;
    this.at[this.next] = atMs;
    this.ratio[this.next] = ttftMs / ttftSlaMs;
    this.next = (this.next + 1) % this.at.length;
    this.size = Math.min(this.size + 1, this.at.length);
  }

  /** The p95 ratio of the requests seen in (now − windowMs, now]; null when there are none. */
  p95(nowMs: number, windowMs: number): { p95Ratio: number; samples: number } | null {
    const recent: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const age = nowMs - this.at[i]!;
      if (age >= 0 && age < windowMs) recent.push(this.ratio[i]!);
    }
    if (recent.length === 0) return null;
    recent.sort((a, b) => a - b);
    const rank = Math.ceil(0.95 * recent.length) - 1;
    return { p95Ratio: recent[Math.max(0, rank)]!, samples: recent.length };
  }
}

function count(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
