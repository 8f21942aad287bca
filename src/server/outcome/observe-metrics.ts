/** Observer: every request's outcome updates the Prometheus metrics (src/metrics) and the /ui's recent window. */
import { observeRequest, slaViolations } from "../../metrics/index.js";
import type { ObserverFactory, RequestOutcome } from "./outcome.js";

export const observeMetrics: ObserverFactory = ({ metrics, energy }) => ({
  name: "observe-metrics",
  observe(o: RequestOutcome) {
    const tier = o.principal?.tier.name;
    // refusals before authentication or outside the completion routes carry no tier to label
    if (!tier || !o.request) return;
    const decision = o.routed?.decision ?? null;
    const hit = o.cache?.status === "hit";
    // a hit ran no variant: engine figures (time, tokens generated) stay those of generations
    const variant = hit ? null : o.variant;
    const chosen = decision?.chosen ?? null;
    const prediction =
      decision?.kind === "routed" ? decision.candidates.find((c) => c.variant === chosen)?.prediction : undefined;
    const workMs = o.choices.reduce((s, c) => s + c.result.queueMs + c.workerMs, 0);
    observeRequest(metrics, {
      tier,
      variant: variant?.name ?? null,
      engine: variant?.engine ?? null,
      status: o.status,
      stream: o.request.stream,
      tokensIn: o.tokensIn,
      tokensOut: o.tokensOut,
      queueMs: o.queueMs,
      ttftMs: o.ttftMs,
      totalMs: o.totalMs,
      predictedTotalMs: prediction?.totalMs ?? null,
      gatewayOverheadMs: variant ? o.totalMs - workMs : null,
      cost: o.serving?.cost ?? null,
      price: o.price,
      counterfactualCost: o.counterfactualCost,
      energy: o.serving && variant ? energy.energyOf(o.serving.cpuSeconds, variant.cost.wattsPerCore) : null,
      reason: decision?.reason ?? null,
      degraded: o.degraded,
      escalated: o.escalated,
      fallback: variant !== null && chosen !== null && variant.name !== chosen && !o.escalated,
      slaViolated: decision?.kind === "routed" && variant ? slaViolations(decision.sla, o.ttftMs, o.totalMs) : [],
      cache: o.cache?.status ?? null,
      ttftSlaMs: decision?.kind === "routed" ? decision.sla.ttftMs : null,
    });
  },
});
