/**
 * The routing decision. Every variant handed in becomes a candidate with its predicted numbers and
 * feasibility flags; the tier's strategy picks from the usable ones (allowed and healthy), ordering them into
 * a pool whose head is the choice and whose tail is the fallback chain.
 *
 * Quality: a variant meets the need when its score q = ppl_reference / ppl_variant ∈ (0, 1] is ≥ the need.
 * The need is the request's (content analysis or caller hint), raised to the tier's floor and capped at the
 * best quality the tier allows, so a tier that only allows a ternary variant is not "degraded" on every request.
 * SLA: predicted TTFT ≤ tier TTFT target and predicted total ≤ min(tier total target, caller's SLA hint).
 */

import { allowsAttempt, secondsUntilRetry } from "./circuit.js";
import { predict } from "./predict.js";
import type {
  Candidate,
  CandidateIssue,
  Decision,
  DecisionInput,
  RejectedDecision,
  RejectedReason,
  Rejection,
  RoutedDecision,
  RoutedReason,
  VariantState,
} from "./types.js";

/** Tolerance when comparing a quality score with the need (scores are ratios of measured perplexities). */
const QUALITY_EPSILON = 1e-9;

export function decide(input: DecisionInput): Decision {
  const { features, tier, variants, now } = input;
  const allowedNames = new Set(tier.allowedVariants);
  const bestAllowed = Math.max(0, ...variants.filter((v) => allowedNames.has(v.name)).map((v) => v.quality));
  const need = Math.max(clamp01(tier.qualityFloor), Math.min(clamp01(features.qualityNeed), bestAllowed));
  const sla = {
    ttftMs: tier.ttftSlaMs,
    totalMs: features.slaMsHint === null ? tier.totalSlaMs : Math.min(tier.totalSlaMs, features.slaMsHint),
  };
  const candidates = variants.map((v) => evaluate(v, input, allowedNames, need, sla));
  // the family's reference (best quality handed in, allowed or not): what the request would cost unrouted
  const reference = [...candidates].sort(byQuality)[0];
  const counterfactualCost = reference ? reference.prediction.cost : null;
  // The decision objects are written out field by field: spreading a shared base into them cost
  // ~10 µs per decision in V8 (most of `decide`, which runs on every request).
  // what every decision of this request says, routed or rejected
  const context = {
    tier: tier.name,
    strategy: tier.strategy,
    onOverload: tier.onOverload,
    qualityNeed: need,
    sla,
    features,
    candidates,
    counterfactualCost,
  };
  const routed = (
    pool: readonly Candidate[],
    reason: RoutedReason,
    escalation: RoutedDecision["escalation"] = null,
  ): RoutedDecision => {
    const chosen = pool[0]!;
    return {
      ...context,
      kind: "routed",
      chosen: chosen.variant,
      reason,
      degraded: !chosen.meetsQuality && escalation === null,
      slaAtRisk: !(chosen.meetsTtft && chosen.meetsTotal),
      fallback: pool.slice(1).map((c) => c.variant),
      escalation,
      rejection: null,
    };
  };
  const rejected = (reason: RejectedReason, rejection: Rejection): RejectedDecision => ({
    ...context,
    kind: "rejected",
    chosen: null,
    reason,
    degraded: false,
    slaAtRisk: false,
    fallback: [],
    escalation: null,
    rejection,
  });
  /** Seconds until the first of these variants' breakers lets a probe through; null when there are none. */
  const breakerRetry = (pool: readonly Candidate[]): number | null => {
    const states = new Map(variants.map((v) => [v.name, v.breaker]));
    const waits = pool.map((c) => secondsUntilRetry(states.get(c.variant)!, now));
    return waits.length > 0 ? Math.max(1, Math.min(...waits)) : null;
  };

  // a named variant short-circuits the policy: it answers, or the request fails
  if (input.pinned !== undefined && input.pinned !== null) {
    const pinned = candidates.find((c) => c.variant === input.pinned);
    if (!pinned) return rejected("unknown_variant", reject(404, null, `variant ${input.pinned} does not exist`));
    if (!pinned.allowed) {
      return rejected(
        "forbidden_variant",
        reject(403, null, `tier ${tier.name} may not use variant ${pinned.variant}`),
      );
    }
    if (!pinned.healthy) {
      return rejected(
        "pinned_unhealthy",
        reject(503, breakerRetry([pinned]), `variant ${pinned.variant} is failing; its circuit breaker is open`),
      );
    }
    return routed([pinned], "pinned");
  }

  const allowed = candidates.filter((c) => c.allowed);
  if (allowed.length === 0) {
    return rejected("no_allowed_variant", reject(403, null, `tier ${tier.name} may use none of these variants`));
  }
  const usable = allowed.filter((c) => c.healthy);
  if (usable.length === 0) {
    return rejected(
      "no_healthy_variant",
      reject(503, breakerRetry(allowed), "every variant this tier may use is failing"),
    );
  }

  switch (tier.strategy) {
    case "cheapest":
      return routed([...usable].sort(byCost), "strategy_cheapest");
    case "quality":
      return routed([...usable].sort(byQuality), "strategy_quality");
    case "cascade": {
      const pool = [...usable].sort(byCost);
      const start = pool[0]!;
      const better = pool.filter((c) => c.quality > start.quality + QUALITY_EPSILON);
      const next = better.find((c) => c.meetsQuality) ?? [...better].sort(byQuality)[0];
      return routed(pool, "cascade_start", next ? { next: next.variant, threshold: tier.cascadeThreshold } : null);
    }
    case "sla":
      break;
  }

  const feasible = usable.filter((c) => c.feasible).sort(byCost);
  const cheapest = feasible[0];
  if (cheapest) {
    const qualityRuledOut = usable.some(
      (c) => !c.meetsQuality && c.meetsTtft && c.meetsTotal && byCost(c, cheapest) < 0,
    );
    return routed(
      feasible,
      qualityRuledOut ? "quality_floor" : feasible.length === 1 ? "only_feasible" : "cheapest_feasible",
    );
  }

  // nothing meets both the quality need and the SLA: the tier says what gives
  const overloaded = () => {
    const drain = usable.filter((c) => c.meetsQuality).map((c) => c.prediction.queueMs);
    const waitMs = Math.min(...(drain.length > 0 ? drain : usable.map((c) => c.prediction.queueMs)));
    return rejected(
      "rejected_overload",
      reject(429, Math.max(1, Math.ceil(waitMs / 1000)), `no variant can answer tier ${tier.name} within its SLA now`),
    );
  };
  switch (tier.onOverload) {
    case "degrade": {
      // give up as little quality as the SLA requires; if nothing meets the SLA, the fastest answers
      const inSla = usable.filter((c) => c.meetsTtft && c.meetsTotal).sort(byQuality);
      if (inSla.length > 0) return routed(inSla, "degraded_sla");
      return routed([...usable].sort(byTotal), "best_effort");
    }
    case "queue": {
      const keepQuality = usable.filter((c) => c.meetsQuality);
      if (keepQuality.length === 0) {
        return rejected(
          "no_quality_variant",
          reject(
            503,
            breakerRetry(allowed.filter((c) => c.meetsQuality)),
            "no variant of the needed quality is healthy",
          ),
        );
      }
      const waitable = keepQuality.filter((c) => c.prediction.queueMs <= tier.maxQueueWaitMs).sort(byTotal);
      return waitable.length > 0 ? routed(waitable, "queued") : overloaded();
    }
    case "reject":
      return overloaded();
  }
}

/** Cascade: whether the cheap answer's confidence is too low to keep (non-finite confidence escalates). */
export function shouldEscalate(meanLogprob: number, threshold: number): boolean {
  return !(meanLogprob >= threshold);
}

function evaluate(
  variant: VariantState,
  input: DecisionInput,
  allowedNames: ReadonlySet<string>,
  need: number,
  sla: { ttftMs: number; totalMs: number },
): Candidate {
  const prediction = predict(variant, input.features, { now: input.now, prices: input.tier });
  const allowed = allowedNames.has(variant.name);
  const healthy = allowsAttempt(variant.breaker, input.now);
  const meetsQuality = variant.quality + QUALITY_EPSILON >= need;
  const meetsTtft = prediction.ttftMs <= sla.ttftMs;
  const meetsTotal = prediction.totalMs <= sla.totalMs;
  const issues: CandidateIssue[] = [];
  if (!allowed) issues.push("not_allowed");
  if (!healthy) issues.push("unhealthy");
  if (!meetsQuality) issues.push("below_quality_need");
  if (!meetsTtft) issues.push("ttft_over_sla");
  if (!meetsTotal) issues.push("total_over_sla");
  return {
    variant: variant.name,
    family: variant.family,
    engine: variant.engine,
    quality: variant.quality,
    prediction,
    allowed,
    healthy,
    meetsQuality,
    meetsTtft,
    meetsTotal,
    feasible: issues.length === 0,
    issues,
  };
}

// Orderings. Each ends on the variant name, so a decision never depends on the order variants arrive in.

function byCost(a: Candidate, b: Candidate): number {
  return a.prediction.cost - b.prediction.cost || a.prediction.totalMs - b.prediction.totalMs || byName(a, b);
}

function byQuality(a: Candidate, b: Candidate): number {
  return (
    b.quality - a.quality ||
    a.prediction.totalMs - b.prediction.totalMs ||
    a.prediction.cost - b.prediction.cost ||
    byName(a, b)
  );
}

function byTotal(a: Candidate, b: Candidate): number {
  return a.prediction.totalMs - b.prediction.totalMs || a.prediction.cost - b.prediction.cost || byName(a, b);
}

function byName(a: Candidate, b: Candidate): number {
  return a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0;
}

function reject(status: Rejection["status"], retryAfterSec: number | null, message: string): Rejection {
  return { status, retryAfterSec, message };
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
