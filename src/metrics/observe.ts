/**
 * The metrics observer of the end-of-request seam: one call per finished request updates every
 * request metric. Its input is the request's outcome reduced to what metrics need, in bounded values
 * only (no tenant, key, client model string or prompt can reach a label).
 */
import type { EnergySource } from "./energy.js";
import type { GatewayMetrics } from "./metrics.js";

export type SlaBound = "ttft" | "total";

export interface RequestMetricsInput {
  /** the tier's configured name */
  readonly tier: string;
  /** the variant that answered and its engine; null when none did (rejected, or failed before one answered) */
  readonly variant: string | null;
  readonly engine: string | null;
  /** the HTTP status sent (499 when the client went away) */
  readonly status: number;
  readonly stream: boolean;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** wait for a slot; null when the request never reached a worker */
  readonly queueMs: number | null;
  /** arrival to the first content token; null when none was produced */
  readonly ttftMs: number | null;
  /** arrival to the end of the response (the stream's end for SSE) */
  readonly totalMs: number;
  /** the router's predicted total time for the variant it chose; null without a routed decision */
  readonly predictedTotalMs: number | null;
  /** total time not spent in the engine or its queue; null when unknown */
  readonly gatewayOverheadMs: number | null;
  readonly cost: number | null;
  readonly price: number | null;
  /** what it would have cost on the family's fp32 reference */
  readonly counterfactualCost: number | null;
  readonly energy: { readonly joules: number; readonly source: EnergySource } | null;
  /** the router's reason code; null when the request never reached the router */
  readonly reason: string | null;
  readonly degraded: boolean;
  /** answered by a variant other than the router's first choice */
  readonly fallback: boolean;
  /** the cascade re-answered it with the stronger variant */
  readonly escalated: boolean;
  /** the SLA bounds this request missed (see `slaViolations`) */
  readonly slaViolated: readonly SlaBound[];
  /** null when no cache was consulted */
  readonly cache: "hit" | "miss" | null;
  /** the TTFT bound the router held this request to (its decision's); absent or null: not routed */
  readonly ttftSlaMs?: number | null;
}

/** The bounds a routed request missed: TTFT counts only when a first token exists. */
export function slaViolations(
  sla: { readonly ttftMs: number; readonly totalMs: number },
  ttftMs: number | null,
  totalMs: number,
): SlaBound[] {
  const missed: SlaBound[] = [];
  if (ttftMs !== null && ttftMs > sla.ttftMs) missed.push("ttft");
  if (totalMs > sla.totalMs) missed.push("total");
  return missed;
}

/** The label value for "no variant answered". */
export const NO_VARIANT = "none";

export function observeRequest(metrics: GatewayMetrics, input: RequestMetricsInput): void {
  const { tier } = input;
  const variant = input.variant ?? NO_VARIANT;
  const engine = input.engine ?? NO_VARIANT;
  // label values in each family's labelNames order: [tier, variant, engine, …]
  const served = [tier, variant, engine];
  const withStatus = [tier, variant, engine, String(input.status)];
  metrics.recent.add(metrics.now(), input);
  metrics.requests.inc(withStatus);
  metrics.requestDuration.observe(withStatus, input.totalMs / 1000);
  if (input.reason !== null) metrics.routingDecisions.inc([tier, input.reason]);
  if (input.gatewayOverheadMs !== null) {
    metrics.gatewayOverhead.observe([tier], Math.max(0, input.gatewayOverheadMs) / 1000);
  }
  if (input.cache === "hit") metrics.cacheHits.inc([tier]);
  if (input.cache === "miss") metrics.cacheMisses.inc([tier]);
  for (const bound of input.slaViolated) metrics.slaViolations.inc([tier, variant, engine, bound]);
  if (input.variant === null) {
    // a cache hit ran no variant but may still be charged
    if (input.price) metrics.price.inc(served, input.price);
    return;
  }

  if (input.ttftMs !== null && input.ttftSlaMs != null)
    metrics.ttftSla.add(metrics.now(), input.ttftMs, input.ttftSlaMs);
  if (input.predictedTotalMs !== null) metrics.predictedDuration.observe(served, input.predictedTotalMs / 1000);
  if (input.queueMs !== null) metrics.queueWait.observe(served, input.queueMs / 1000);
  if (input.ttftMs !== null) {
    metrics.timeToFirstToken.observe(served, input.ttftMs / 1000);
    if (input.tokensOut > 1) {
      const afterFirst = Math.max(0, input.totalMs - input.ttftMs) / 1000;
      metrics.timePerOutputToken.observe(served, afterFirst / (input.tokensOut - 1));
    }
  }
  metrics.promptTokens.observe(served, input.tokensIn);
  metrics.completionTokens.observe(served, input.tokensOut);
  metrics.promptTokensTotal.inc(served, input.tokensIn);
  metrics.completionTokensTotal.inc(served, input.tokensOut);
  if (input.degraded) metrics.degraded.inc(served);
  if (input.fallback) metrics.fallback.inc(served);
  if (input.escalated) metrics.escalated.inc(served);
  if (input.cost !== null) metrics.cost.inc(served, input.cost);
  if (input.price !== null) metrics.price.inc(served, input.price);
  if (input.counterfactualCost !== null) metrics.counterfactualCost.inc(served, input.counterfactualCost);
  if (input.energy !== null) metrics.energy.inc([tier, variant, engine, input.energy.source], input.energy.joules);
}
