/**
 * The router's contract: what the server hands in and what it (and the decision recorder) gets back.
 * Times are milliseconds, rates tokens per second, money in the configured currency unit (e.g. USD).
 */

import type { BreakerState } from "./circuit.js";

// ── request ────────────────────────────────────────────────────────────────────────────────────────────

export interface RouteMessage {
  readonly role: string;
  /** The message's text; the server flattens content parts before routing. */
  readonly content: string;
}

/** `low` = the tier floor is enough, `high` = the best the tier allows, or an explicit need in [0, 1]. */
export type QualityHint = "low" | "standard" | "high" | number;

export interface RouteRequest {
  readonly messages: readonly RouteMessage[];
  /** Prompt length as the server's tokenizer (or its approximation) counted it. */
  readonly promptTokens: number;
  /** `max_tokens` / `max_completion_tokens` when the client sent one. */
  readonly maxTokens?: number | undefined;
  /** `x-tritgate-quality`. */
  readonly qualityHint?: QualityHint | undefined;
  /** A total-time bound the caller asks for; it can only tighten the tier's SLA. */
  readonly slaMsHint?: number | undefined;
}

export type SignalKind = "code" | "math" | "multiStep" | "length";

export interface Signal {
  /** Strength in [0, 1]. */
  readonly score: number;
  /** score ≥ SIGNAL_FLAG_THRESHOLD. */
  readonly flagged: boolean;
  /** Which detectors fired, e.g. `code_fence`, `keyword:integral`, `numbered_list:3`. */
  readonly evidence: readonly string[];
}

export interface RequestFeatures {
  readonly promptTokens: number;
  readonly expectedOutputTokens: number;
  readonly expectedOutputSource: "max_tokens" | "estimate";
  readonly signals: Readonly<Record<SignalKind, Signal>>;
  /** The need the content alone implies, in [0, 1]. */
  readonly contentNeed: number;
  /** The need to route by before the tier clamps it: the caller's hint when given, else `contentNeed`. */
  readonly qualityNeed: number;
  readonly qualityNeedSource: "analysis" | "hint";
  readonly slaMsHint: number | null;
}

// ── variants ───────────────────────────────────────────────────────────────────────────────────────────

export type EngineKind = "bitnet" | "onnx";

/** Throughput measured on the reference machine, from the variant's model card. */
export interface CardRates {
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
}

/** Moving averages of what this variant measured in this process (see `seedRates`, `updateRates`). */
export interface LiveRates {
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** Mean time a request occupies a slot (prefill + decode), used for queue-wait prediction. */
  readonly serviceMs: number;
  readonly samples: number;
  /** `now` of the last observation; null while the rates are still the card seed. */
  readonly updatedAtMs: number | null;
}

export interface CostParams {
  readonly pricePerCoreHour: number;
  readonly wattsPerCore: number;
  /** Cores one request keeps busy while it is served (threads ÷ batch sharing, as the engine reports). */
  readonly coresPerRequest: number;
}

export interface VariantState {
  readonly name: string;
  readonly family: string;
  readonly engine: EngineKind;
  /** q = ppl_reference / ppl_variant, in (0, 1]; 1 for the family's reference variant. */
  readonly quality: number;
  readonly card: CardRates;
  readonly rates: LiveRates;
  readonly running: number;
  readonly waiting: number;
  /** Requests the variant serves concurrently (batch slots × workers). */
  readonly slots: number;
  /**
   * How long before the variant can start anything: the expected load time of a variant unloaded for
   * idleness (what its last load took), what is left of it while it reloads; 0 or absent when loaded.
   */
  readonly loadMs?: number | undefined;
  readonly breaker: BreakerState;
  readonly cost: CostParams;
}

// ── tiers ──────────────────────────────────────────────────────────────────────────────────────────────

export type OverloadPolicy = "degrade" | "queue" | "reject";
export type Strategy = "sla" | "cheapest" | "quality" | "cascade";

export interface TierPrices {
  readonly pricePer1kInput: number;
  readonly pricePer1kOutput: number;
}

export interface Tier extends TierPrices {
  readonly name: string;
  /** The least quality need any request of this tier is routed with, in [0, 1]. */
  readonly qualityFloor: number;
  /** p95 targets; the router holds its predictions to them. */
  readonly ttftSlaMs: number;
  readonly totalSlaMs: number;
  readonly allowedVariants: readonly string[];
  readonly onOverload: OverloadPolicy;
  /** Under `queue`, the longest predicted queue wait a request is kept for. */
  readonly maxQueueWaitMs: number;
  /** Scheduling priority (higher first); the router passes it through, the engine queues by it. */
  readonly priority: number;
  readonly strategy: Strategy;
  /** Under `cascade`, escalate when the mean token log-probability of the first tokens falls below this. */
  readonly cascadeThreshold: number;
}

// ── predictions and decisions ──────────────────────────────────────────────────────────────────────────

export interface Prediction {
  /** The variant's load still ahead (`VariantState.loadMs`); part of queueMs. */
  readonly loadMs: number;
  /** Wait before a slot: the load ahead plus the completions ahead. */
  readonly queueMs: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  /** queue + prefill */
  readonly ttftMs: number;
  /** ttft + decode */
  readonly totalMs: number;
  readonly cpuSeconds: number;
  /** What serving the request costs us. */
  readonly cost: number;
  readonly energyJ: number;
  /** What the tenant pays (from the tier's prices; 0 when no prices were given). */
  readonly price: number;
}

export type CandidateIssue = "not_allowed" | "unhealthy" | "below_quality_need" | "ttft_over_sla" | "total_over_sla";

export interface Candidate {
  readonly variant: string;
  readonly family: string;
  readonly engine: EngineKind;
  readonly quality: number;
  readonly prediction: Prediction;
  readonly allowed: boolean;
  readonly healthy: boolean;
  readonly meetsQuality: boolean;
  readonly meetsTtft: boolean;
  readonly meetsTotal: boolean;
  /** allowed, healthy, meets the quality need and both SLA bounds. */
  readonly feasible: boolean;
  /** Why not feasible; empty when feasible. */
  readonly issues: readonly CandidateIssue[];
}

export const ROUTED_REASONS = [
  "cheapest_feasible",
  "only_feasible",
  "quality_floor",
  "degraded_sla",
  "best_effort",
  "queued",
  "pinned",
  "strategy_cheapest",
  "strategy_quality",
  "cascade_start",
] as const;

export const REJECTED_REASONS = [
  "rejected_overload",
  "forbidden_variant",
  "unknown_variant",
  "pinned_unhealthy",
  "no_allowed_variant",
  "no_healthy_variant",
  "no_quality_variant",
] as const;

export type RoutedReason = (typeof ROUTED_REASONS)[number];
export type RejectedReason = (typeof REJECTED_REASONS)[number];
export type ReasonCode = RoutedReason | RejectedReason;
export const REASON_CODES: readonly ReasonCode[] = [...ROUTED_REASONS, ...REJECTED_REASONS];

export interface Rejection {
  /** 403 forbidden variant / none allowed, 404 unknown variant, 429 overload, 503 nothing healthy. */
  readonly status: 403 | 404 | 429 | 503;
  /** For `retry-after`; null when retrying cannot help. */
  readonly retryAfterSec: number | null;
  readonly message: string;
}

export interface Escalation {
  /** The variant to re-answer with when the cheap answer's confidence is low. */
  readonly next: string;
  /** The tier's mean-logprob threshold (see `shouldEscalate`). */
  readonly threshold: number;
}

interface DecisionBase {
  readonly tier: string;
  readonly strategy: Strategy;
  readonly onOverload: OverloadPolicy;
  /** The need routed by: the request's, clamped to [tier floor, best quality the tier allows]. */
  readonly qualityNeed: number;
  readonly sla: { readonly ttftMs: number; readonly totalMs: number };
  readonly features: RequestFeatures;
  /** Every variant handed in, in input order, with its numbers. */
  readonly candidates: readonly Candidate[];
  /** Cost of serving this request on the family's reference (best-quality) variant: the counterfactual for savings. */
  readonly counterfactualCost: number | null;
}

export interface RoutedDecision extends DecisionBase {
  readonly kind: "routed";
  readonly chosen: string;
  readonly reason: RoutedReason;
  /** The chosen variant is below the request's quality need (`x-tritgate-degraded: true`). */
  readonly degraded: boolean;
  /** The chosen variant is predicted to miss the SLA. */
  readonly slaAtRisk: boolean;
  /** Variants to retry on, in order, if the chosen one errors or times out. */
  readonly fallback: readonly string[];
  readonly escalation: Escalation | null;
  readonly rejection: null;
}

export interface RejectedDecision extends DecisionBase {
  readonly kind: "rejected";
  readonly chosen: null;
  readonly reason: RejectedReason;
  readonly degraded: false;
  readonly slaAtRisk: false;
  readonly fallback: readonly [];
  readonly escalation: null;
  readonly rejection: Rejection;
}

export type Decision = RoutedDecision | RejectedDecision;

export interface DecisionInput {
  readonly features: RequestFeatures;
  readonly tier: Tier;
  /** The variants of one family (for a pinned request, the pinned variant's family), in any order. */
  readonly variants: readonly VariantState[];
  readonly now: number;
  /** A variant the request named explicitly. */
  readonly pinned?: string | null | undefined;
}
