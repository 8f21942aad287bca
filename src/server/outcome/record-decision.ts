/**
 * Observer: every request that reached routing becomes a request row and a decision row for the
 * recorder; a cache hit (answered without routing) becomes a request row alone.
 */
import type { DecisionRow, RequestRow } from "../recorder.js";
import type { ObserverFactory, RequestOutcome } from "./outcome.js";

export const recordDecision: ObserverFactory = ({ recorder }) => ({
  name: "record-decision",
  observe(outcome) {
    const rows = decisionRows(outcome);
    if (rows) recorder.enqueue(rows.request, rows.decision);
  },
});

/** The recorder's rows for an outcome; null for requests refused before routing (they are not recorded). */
export function decisionRows(o: RequestOutcome): { request: RequestRow; decision: DecisionRow | null } | null {
  const { routed, principal, request: asked } = o;
  const cacheHit = o.cache?.status === "hit";
  if ((!routed && !cacheHit) || !principal || !asked) return null;
  const request: RequestRow = {
    requestId: o.requestId,
    createdAt: new Date(o.startedAt).toISOString(),
    endpoint: asked.endpoint,
    tenantId: principal.tenant.id,
    keyId: principal.keyId,
    tier: principal.tier.name,
    model: asked.model,
    variant: o.variant?.name ?? null,
    variantVersion: o.variantVersion,
    status: o.status,
    stream: asked.stream,
    tokensIn: o.tokensIn,
    tokensOut: o.tokensOut,
    queueMs: o.queueMs,
    ttftMs: o.ttftMs,
    totalMs: o.totalMs,
    cpuMs: o.serving ? o.serving.cpuSeconds * 1000 : null,
    energyJ: o.serving?.energyJ ?? null,
    cost: o.serving?.cost ?? null,
    price: o.price,
    counterfactualCost: o.counterfactualCost,
    cacheHit,
    degraded: o.degraded,
    errorCode: o.error,
  };
  if (!routed) return { request, decision: null };
  const { decision } = routed;
  return {
    request,
    decision: {
      decisionId: routed.decisionId,
      requestId: o.requestId,
      strategy: decision.strategy,
      qualityNeed: decision.qualityNeed,
      sla: decision.sla,
      load: routed.load,
      candidates: decision.candidates,
      chosen: decision.chosen,
      reason: decision.reason,
      fallbackChain: o.tried,
      degraded: o.degraded,
    },
  };
}
