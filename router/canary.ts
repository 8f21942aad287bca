/**
 * Canary rollout decisions, pure: which version of a variant a request goes to (a hash of its key
 * against the canary weight, so the same request id always lands on the same side), what a window
 * of attempts says (success rate, p95 latency), and whether a canary's window against its stable
 * version's calls for a promotion, a rollback, or more requests. No clock, no I/O.
 */

/** One generation attempt on one version: engine faults are failures; request faults are never counted. */
export interface AttemptSample {
  readonly ok: boolean;
  /** the version's answer time: waiting for a slot plus the generation as seen from the pool handle */
  readonly ms: number;
}

export interface WindowStats {
  /** attempts in the window */
  readonly requests: number;
  readonly successes: number;
  /** successes / requests; 1 for an empty window */
  readonly successRate: number;
  /** p95 of the successful attempts' ms (nearest rank); null without a success */
  readonly p95Ms: number | null;
}

export interface CanaryBounds {
  /** no judgement before the canary's window holds this many attempts (N) */
  readonly minRequests: number;
  /** below this success rate the canary is rolled back */
  readonly minSuccessRate: number;
  /** above this multiple of the stable version's p95 the canary is rolled back */
  readonly maxP95Ratio: number;
  /** promote by itself once the canary has served this many attempts within bounds; null: only by hand */
  readonly promoteAfterRequests: number | null;
}

export const DEFAULT_CANARY_BOUNDS: CanaryBounds = {
  minRequests: 50,
  minSuccessRate: 0.99,
  maxP95Ratio: 1.5,
  promoteAfterRequests: 200,
};

export interface CanaryInput {
  readonly canary: WindowStats;
  /** attempts the canary has served since it got its weight (the window holds the latest of them) */
  readonly canaryTotal: number;
  readonly stable: WindowStats;
  readonly bounds: CanaryBounds;
}

export type CanaryRule = "success_rate" | "p95_latency" | "healthy";

/** What the figures of a transition say: the two windows and the bounds they were held to. */
export interface CanaryFigures {
  readonly canary: WindowStats;
  readonly canaryTotal: number;
  readonly stable: WindowStats;
  readonly bounds: CanaryBounds;
}

export interface CanaryVerdict {
  readonly action: "promote" | "rollback";
  readonly rule: CanaryRule;
  /** one sentence with the numbers */
  readonly reason: string;
  readonly figures: CanaryFigures;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: fast, stable across processes, no imports. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Where `key` falls in [0, 1): the same key always falls in the same place. */
export function canaryPoint(key: string): number {
  return fnv1a(key) / 2 ** 32;
}

/** Whether the request with this key goes to the canary: its point is below the weight. */
export function routesToCanary(key: string, weight: number): boolean {
  return weight > 0 && canaryPoint(key) < weight;
}

/** A window's figures. */
export function summarize(samples: readonly AttemptSample[]): WindowStats {
  const times: number[] = [];
  for (const s of samples) if (s.ok) times.push(s.ms);
  times.sort((a, b) => a - b);
  const requests = samples.length;
  const successes = times.length;
  const rank = Math.ceil(0.95 * successes) - 1;
  return {
    requests,
    successes,
    successRate: requests === 0 ? 1 : successes / requests,
    p95Ms: successes === 0 ? null : (times[Math.max(0, rank)] ?? null),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

/**
 * The canary's window against the stable one's. Nothing is decided before the canary has
 * `minRequests` attempts in its window. Then a success rate under the bound, or (when the stable
 * window also holds `minRequests` attempts) a p95 over `maxP95Ratio` times the stable p95, rolls it
 * back; a canary within bounds after `promoteAfterRequests` attempts, with its latency judged, is
 * promoted. Otherwise null: keep going.
 */
export function judgeCanary(input: CanaryInput): CanaryVerdict | null {
  const { canary, stable, bounds, canaryTotal } = input;
  if (canary.requests < bounds.minRequests) return null;
  const figures: CanaryFigures = { canary, canaryTotal, stable, bounds };
  if (canary.successRate < bounds.minSuccessRate) {
    return {
      action: "rollback",
      rule: "success_rate",
      reason: `success rate ${pct(canary.successRate)} over the last ${canary.requests} requests is below ${pct(bounds.minSuccessRate)}`,
      figures,
    };
  }
  const latencyJudged = stable.requests >= bounds.minRequests && stable.p95Ms !== null && canary.p95Ms !== null;
  if (latencyJudged && canary.p95Ms! > bounds.maxP95Ratio * stable.p95Ms!) {
    return {
      action: "rollback",
      rule: "p95_latency",
      reason: `p95 latency ${ms(canary.p95Ms!)} over the last ${canary.requests} requests is above ${bounds.maxP95Ratio}x the stable version's ${ms(stable.p95Ms!)}`,
      figures,
    };
  }
  if (latencyJudged && bounds.promoteAfterRequests !== null && canaryTotal >= bounds.promoteAfterRequests) {
    return {
      action: "promote",
      rule: "healthy",
      reason: `within bounds after ${canaryTotal} requests: success rate ${pct(canary.successRate)}, p95 ${ms(canary.p95Ms!)} against the stable version's ${ms(stable.p95Ms!)}`,
      figures,
    };
  }
  return null;
}
