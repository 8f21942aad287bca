/**
 * A request's outcome, assembled once when the request ends and handed to the observers (recorder,
 * limiter settlement, …). Along the way the route fills an `OutcomeDraft` (what was asked, the
 * decision, what each choice did); `end-of-request.ts` completes it with the status and the clock.
 */
import { costOf, priceOf, type ServingCost } from "../../../router/index.js";
import type { EnergyMeter, GatewayMetrics } from "../../metrics/index.js";
import type { Principal, ResponseCachePolicy } from "../../tenants/index.js";
import type { CacheLookup } from "../cache/lookup.js";
import type { SemanticProbe } from "../cache/semantic.js";
import type { ResponseCache } from "../cache/store.js";
import type { AnswerProgress, ChoiceOutcome } from "../gateway/answer.js";
import type { Routed } from "../gateway/gateway.js";
import type { Logger } from "../log.js";
import type { DecisionRecorder } from "../recorder.js";
import type { AppDeps, VariantProfile } from "../types.js";

export interface RequestOutcome {
  readonly requestId: string;
  /** gateway clock (ms since epoch) when the request arrived */
  readonly startedAt: number;
  /** arrival → the answer's end (the last byte of a stream) */
  readonly totalMs: number;
  readonly status: number;
  /** the error code the answer carried (a refusal's, an engine failure's, `client_closed`), else null */
  readonly error: string | null;
  /** null when authentication failed or the route needs none */
  readonly principal: Principal | null;
  /** tokens the rate limiter reserved; null when it did not admit the request */
  readonly reservedTokens: number | null;
  /** what the client asked for, once a completion route read its body */
  readonly request: CompletionRequest | null;
  /** the routing decision, once there was one */
  readonly routed: Routed | null;
  /** the variant whose answer was returned (null when none was) */
  readonly variant: VariantProfile | null;
  /** the registry version of that variant that answered (null when none did) */
  readonly variantVersion: string | null;
  /** every variant tried, in order */
  readonly tried: readonly string[];
  readonly escalated: boolean;
  /** answered below the request's quality need */
  readonly degraded: boolean;
  readonly choices: readonly ChoiceOutcome[];
  /** prompt tokens of the first choice and output tokens of all (a hit's: those of the stored answer) */
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** what the limiter settles and the price is of: tokensIn + tokensOut, or 0 for a hit its tier does not bill */
  readonly billedTokens: number;
  /** the response cache's part; null when it was not consulted, or found a hit that was refused before it was sent */
  readonly cache: CacheOutcome | null;
  readonly queueMs: number | null;
  readonly ttftMs: number | null;
  /** prefill + decode inside the engine, summed over choices */
  readonly engineMs: number;
  /** of the variant that answered; null when none did */
  readonly serving: ServingCost | null;
  /** what the tenant is charged; null without a principal */
  readonly price: number | null;
  /**
   * What the family's reference (fp32) variant would have cost, on the same footing as `serving`:
   * the router's predicted counterfactual scaled by how far the answering variant's measured cost
   * came from its own prediction (a slow machine slows both), so a reference answer's counterfactual
   * is its measured cost. The prediction itself when nothing was measured; null without a decision.
   */
  readonly counterfactualCost: number | null;
}

export interface CacheOutcome {
  readonly status: "hit" | "miss";
  readonly key: string;
  readonly policy: ResponseCachePolicy;
  /** a semantic tier's miss: what its answer is indexed under */
  readonly probe: SemanticProbe | null;
}

export interface CompletionRequest {
  readonly endpoint: "chat.completions" | "completions";
  readonly model: string;
  readonly stream: boolean;
}

/** Fired once per request, in registration order; must not throw (a throw is logged and skipped). */
export interface OutcomeObserver {
  readonly name: string;
  observe(outcome: RequestOutcome): void;
}

/** What an observer is built from. */
export interface ObserverDeps {
  readonly deps: AppDeps;
  readonly recorder: DecisionRecorder;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly energy: EnergyMeter;
  /** the response cache a miss's answer is stored in */
  readonly cache: ResponseCache;
}

export type ObserverFactory = (deps: ObserverDeps) => OutcomeObserver;

/** How a streamed answer ended. */
export interface StreamEnd {
  readonly status: number;
  readonly error: string | null;
}

/** The parts of an outcome the route learns along the way. */
export class OutcomeDraft implements AnswerProgress {
  request: CompletionRequest | null = null;
  routed: Routed | null = null;
  error: string | null = null;
  readonly choices: ChoiceOutcome[] = [];
  readonly tried: string[] = [];
  readonly versions = new Map<string, string>();
  escalated = false;
  firstTokenAt: number | null = null;
  /** what the response cache's lookup found (cache/lookup.ts); null when it was not consulted */
  cache: CacheLookup | null = null;
  /** a streamed answer: the request ends when this settles, not when the handler returns */
  streamEnd: Promise<StreamEnd> | null = null;

  constructor(readonly startedAt: number) {}
}

export interface Finished {
  readonly requestId: string;
  readonly principal: Principal | undefined;
  readonly reservedTokens: number | undefined;
  readonly status: number;
  readonly now: number;
  readonly variant: (name: string) => VariantProfile | undefined;
}

/** The draft and how the request ended → the outcome (the one place tokens, times and costs are summed). */
export function completeOutcome(draft: OutcomeDraft, end: Finished): RequestOutcome {
  const { choices, routed } = draft;
  const cache = cacheOutcome(draft.cache);
  // a hit ran no engine: the stored answer's tokens, none of its time or cost
  const hit = cache?.status === "hit";
  const first = choices[0];
  const variant = first ? (end.variant(first.variant) ?? null) : null;
  let tokensOut = 0;
  let engineMs = 0;
  for (const o of choices) {
    tokensOut += o.result.completionTokens;
    if (!hit) engineMs += o.result.prefillMs + o.result.decodeMs;
  }
  const tokensIn = first?.result.promptTokens ?? 0;
  const billed = !hit || cache.policy.billHits;
  const billedTokens = billed ? tokensIn + tokensOut : 0;
  // an answer refused before it was sent (an error status) reports no time to first token
  const sent = end.status < 400 || end.status === 499;
  const tier = end.principal?.tier;
  const serving = variant && !hit ? costOf(variant.cost, engineMs) : null;
  return {
    requestId: end.requestId,
    startedAt: draft.startedAt,
    totalMs: end.now - draft.startedAt,
    status: end.status,
    error: draft.error,
    principal: end.principal ?? null,
    reservedTokens: end.reservedTokens ?? null,
    request: draft.request,
    routed,
    variant,
    variantVersion: variant ? (first?.version ?? null) : null,
    tried: draft.tried,
    escalated: draft.escalated,
    degraded: variant !== null && routed !== null && isDegraded(routed, variant),
    choices,
    tokensIn,
    tokensOut,
    billedTokens,
    cache,
    queueMs: hit ? null : (first?.result.queueMs ?? null),
    ttftMs: sent && draft.firstTokenAt !== null ? draft.firstTokenAt - draft.startedAt : null,
    engineMs,
    serving,
    price: tier ? (billed ? priceOf(tier, tokensIn, tokensOut) : 0) : null,
    counterfactualCost: hit ? null : measuredCounterfactual(routed, variant, serving),
  };
}

function cacheOutcome(lookup: CacheLookup | null): CacheOutcome | null {
  if (!lookup || (lookup.hit && !lookup.served)) return null;
  return { status: lookup.served ? "hit" : "miss", key: lookup.key, policy: lookup.policy, probe: lookup.probe };
}

function measuredCounterfactual(
  routed: Routed | null,
  variant: VariantProfile | null,
  serving: ServingCost | null,
): number | null {
  const predicted = routed?.decision.counterfactualCost ?? null;
  if (predicted === null || !variant || !serving) return predicted;
  const own = routed?.decision.candidates.find((c) => c.variant === variant.name)?.prediction.cost;
  return own && own > 0 ? (predicted * serving.cost) / own : predicted;
}

/** Below the request's quality need: the router degraded it, or a fallback landed on a weaker variant. */
export function isDegraded(routed: Routed, variant: VariantProfile): boolean {
  const { decision } = routed;
  if (decision.kind !== "routed") return false;
  return decision.degraded || variant.quality < decision.qualityNeed - 1e-9;
}
