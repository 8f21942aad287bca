import { describe, expect, it } from "vitest";
import { decide, shouldEscalate } from "./decide.js";
import { features, fullPrecision, OPEN_BREAKER, ternary, tier } from "./testkit.js";
import {
  type Decision,
  type DecisionInput,
  REASON_CODES,
  type ReasonCode,
  type RejectedDecision,
  type RoutedDecision,
} from "./types.js";

// Default scenario (see testkit): nano-b158 q=0.8 predicts TTFT 100 ms / total 1100 ms at cost c;
// nano-fp32 q=1 predicts TTFT 200 ms / total 2200 ms at 4c. Tier SLA: TTFT 1000 ms, total 5000 ms.
// A busy fp32 (4 running + 4 waiting on 4 slots): 5 completions ahead × 3072 ms / 4 = 3840 ms of queue.
const busy = { running: 4, waiting: 4 } as const;

function input(over: Partial<DecisionInput> = {}): DecisionInput {
  return { features: features(), tier: tier(), variants: [ternary(), fullPrecision()], now: 0, ...over };
}

function routed(d: Decision): RoutedDecision {
  if (d.kind !== "routed") throw new Error(`expected a routed decision, got ${d.reason}`);
  return d;
}

function rejected(d: Decision): RejectedDecision {
  if (d.kind !== "rejected") throw new Error(`expected a rejection, got ${d.reason} → ${d.chosen}`);
  return d;
}

const reached = new Set<ReasonCode>();
function run(i: DecisionInput): Decision {
  const d = decide(i);
  reached.add(d.reason);
  return d;
}

describe("decide — sla strategy", () => {
  it("prefers a loaded variant when an unloaded one's load time would break the TTFT SLA", () => {
    // nano-b158 is cheaper, but unloaded: 1500 ms of load + 100 ms of prefill is over the 1000 ms TTFT SLA
    const cold = routed(run(input({ variants: [ternary({ loadMs: 1500 }), fullPrecision()] })));
    expect(cold.chosen).toBe("nano-fp32");
    const b158 = cold.candidates.find((c) => c.variant === "nano-b158")!;
    expect(b158.prediction.ttftMs).toBeCloseTo(1600, 9);
    expect(b158.issues).toContain("ttft_over_sla");
    // a load that fits the SLA does not stop the cheaper variant being chosen
    const quick = routed(run(input({ variants: [ternary({ loadMs: 300 }), fullPrecision()] })));
    expect(quick).toMatchObject({ chosen: "nano-b158", reason: "cheapest_feasible" });
  });

  it("picks the cheapest variant that meets quality and SLA, the rest as fallback", () => {
    const d = routed(run(input()));
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "cheapest_feasible", degraded: false, slaAtRisk: false });
    expect(d.fallback).toEqual(["nano-fp32"]);
    expect(d.candidates.map((c) => c.feasible)).toEqual([true, true]);
  });

  it("says quality_floor when the quality need rules out a cheaper variant that meets the SLA", () => {
    const d = routed(run(input({ features: features({ qualityNeed: 0.9 }) })));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "quality_floor", degraded: false, fallback: [] });
    const b158 = d.candidates.find((c) => c.variant === "nano-b158")!;
    expect(b158.issues).toEqual(["below_quality_need"]);
  });

  it("the tier's floor raises the need the same way", () => {
    const d = routed(run(input({ tier: tier({ qualityFloor: 0.85 }) })));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "quality_floor", qualityNeed: 0.85 });
  });

  it("says only_feasible when one variant meets everything and nothing cheaper was ruled out by quality", () => {
    const d = routed(run(input({ variants: [ternary(), fullPrecision(busy)] })));
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "only_feasible", fallback: [] });
    const fp = d.candidates.find((c) => c.variant === "nano-fp32")!;
    expect(fp.prediction.queueMs).toBeCloseTo(3840, 6);
    expect(fp.issues).toEqual(["ttft_over_sla", "total_over_sla"]);
  });

  it("caps the need at the best quality the tier allows, so a ternary-only tier is not always degraded", () => {
    const d = routed(
      run(input({ tier: tier({ allowedVariants: ["nano-b158"] }), features: features({ qualityNeed: 0.95 }) })),
    );
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "only_feasible", degraded: false, qualityNeed: 0.8 });
  });

  it("a caller SLA hint tightens the total bound", () => {
    const d = routed(run(input({ features: features({ slaMsHint: 2000 }) })));
    expect(d.sla).toEqual({ ttftMs: 1000, totalMs: 2000 });
    expect(d.candidates.find((c) => c.variant === "nano-fp32")!.issues).toEqual(["total_over_sla"]);
  });

  it("breaks exact ties by variant name, whatever order the variants arrive in", () => {
    const twins = [ternary({ name: "nano-b158-y" }), ternary({ name: "nano-b158-x" })];
    const t = tier({ allowedVariants: ["nano-b158-x", "nano-b158-y"] });
    for (const variants of [twins, [...twins].reverse()]) {
      const d = routed(run(input({ tier: t, variants })));
      expect(d).toMatchObject({ chosen: "nano-b158-x", fallback: ["nano-b158-y"] });
    }
  });

  it("records every candidate, disallowed ones included, and the reference variant's counterfactual cost", () => {
    const d = run(input());
    const [b158, fp] = d.candidates;
    expect(fp!.prediction.cost).toBeCloseTo(4 * b158!.prediction.cost, 12);
    expect(d.counterfactualCost).toBe(fp!.prediction.cost);
    const only = run(input({ tier: tier({ allowedVariants: ["nano-b158"] }) }));
    expect(only.candidates.find((c) => c.variant === "nano-fp32")!.issues).toContain("not_allowed");
    expect(only.counterfactualCost).toBe(fp!.prediction.cost);
  });
});

describe("decide — overload policies", () => {
  const overloaded = (onOverload: "degrade" | "queue" | "reject", maxQueueWaitMs = 5000) =>
    input({
      tier: tier({ onOverload, maxQueueWaitMs }),
      features: features({ qualityNeed: 0.9 }),
      variants: [ternary(), fullPrecision(busy)],
    });

  it("degrade: the variant that meets the SLA answers below the need, marked degraded", () => {
    const d = routed(run(overloaded("degrade")));
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "degraded_sla", degraded: true, slaAtRisk: false });
  });

  it("degrade gives up as little quality as it can", () => {
    const mid = ternary({ name: "nano-b158-large", quality: 0.88 });
    const allowedVariants = ["nano-b158", "nano-b158-large", "nano-fp32"];
    const scenario = overloaded("degrade");
    const d = routed(
      run({
        ...scenario,
        tier: { ...scenario.tier, allowedVariants },
        variants: [ternary(), mid, fullPrecision(busy)],
      }),
    );
    expect(d).toMatchObject({ chosen: "nano-b158-large", reason: "degraded_sla", fallback: ["nano-b158"] });
  });

  it("degrade with nothing inside the SLA: the fastest answers, best effort", () => {
    const d = routed(run(input({ tier: tier({ totalSlaMs: 500 }) })));
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "best_effort", degraded: false, slaAtRisk: true });
    expect(d.fallback).toEqual(["nano-fp32"]);
  });

  it("queue: keeps the quality when the predicted wait is within the bound", () => {
    const d = routed(run(overloaded("queue", 5000)));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "queued", degraded: false, slaAtRisk: true });
  });

  it("queue: rejects with 429 when the wait exceeds the bound, retry-after from the queue drain", () => {
    const d = rejected(run(overloaded("queue", 2000)));
    expect(d.reason).toBe("rejected_overload");
    expect(d.rejection).toMatchObject({ status: 429, retryAfterSec: 4 });
  });

  it("queue: 503 when no variant of the needed quality is healthy", () => {
    const d = rejected(
      run({ ...overloaded("queue"), variants: [ternary(), fullPrecision({ breaker: OPEN_BREAKER })] }),
    );
    expect(d).toMatchObject({ reason: "no_quality_variant", rejection: { status: 503, retryAfterSec: 30 } });
  });

  it("reject: 429 with retry-after", () => {
    const d = rejected(run(overloaded("reject")));
    expect(d).toMatchObject({ reason: "rejected_overload", chosen: null, degraded: false, fallback: [] });
    expect(d.rejection).toMatchObject({ status: 429, retryAfterSec: 4 });
  });
});

describe("decide — health", () => {
  it("skips a variant whose breaker is open, and rejects 503 when every allowed variant is failing", () => {
    const d = routed(run(input({ variants: [ternary({ breaker: OPEN_BREAKER }), fullPrecision()] })));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "only_feasible" });
    const none = rejected(
      run(input({ variants: [ternary({ breaker: OPEN_BREAKER }), fullPrecision({ breaker: OPEN_BREAKER })] })),
    );
    expect(none).toMatchObject({ reason: "no_healthy_variant", rejection: { status: 503, retryAfterSec: 30 } });
  });

  it("an open breaker past its cool-down and a free half-open probe count as healthy; a busy probe does not", () => {
    const pastCooldown = routed(run(input({ now: 30_000, variants: [ternary({ breaker: OPEN_BREAKER })] })));
    expect(pastCooldown.chosen).toBe("nano-b158");
    const probe = routed(
      run(input({ variants: [ternary({ breaker: { state: "half_open", probeInFlight: false } })] })),
    );
    expect(probe.chosen).toBe("nano-b158");
    const busyProbe = run(input({ variants: [ternary({ breaker: { state: "half_open", probeInFlight: true } })] }));
    expect(busyProbe.reason).toBe("no_healthy_variant");
  });

  it("403 when the tier may use none of the variants", () => {
    const d = rejected(run(input({ tier: tier({ allowedVariants: ["other-model"] }) })));
    expect(d).toMatchObject({ reason: "no_allowed_variant", rejection: { status: 403, retryAfterSec: null } });
  });
});

describe("decide — pinned variants", () => {
  it("a pinned allowed variant answers even when a cheaper one would do", () => {
    const d = routed(run(input({ pinned: "nano-fp32" })));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "pinned", fallback: [], degraded: false });
  });

  it("a pinned variant the tier does not allow is forbidden; an unknown one is 404; a failing one 503", () => {
    const forbidden = rejected(run(input({ pinned: "nano-fp32", tier: tier({ allowedVariants: ["nano-b158"] }) })));
    expect(forbidden).toMatchObject({ reason: "forbidden_variant", rejection: { status: 403 } });
    const unknown = rejected(run(input({ pinned: "gpt-4o" })));
    expect(unknown).toMatchObject({ reason: "unknown_variant", rejection: { status: 404 } });
    const failing = rejected(run(input({ pinned: "nano-b158", variants: [ternary({ breaker: OPEN_BREAKER })] })));
    expect(failing).toMatchObject({ reason: "pinned_unhealthy", rejection: { status: 503, retryAfterSec: 30 } });
  });
});

describe("decide — strategies", () => {
  it("cheapest ignores the SLA and the quality need (marking degraded)", () => {
    const d = routed(
      run(input({ tier: tier({ strategy: "cheapest", totalSlaMs: 10 }), features: features({ qualityNeed: 0.9 }) })),
    );
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "strategy_cheapest", degraded: true, slaAtRisk: true });
  });

  it("quality picks the best allowed healthy variant", () => {
    const d = routed(run(input({ tier: tier({ strategy: "quality" }) })));
    expect(d).toMatchObject({ chosen: "nano-fp32", reason: "strategy_quality", fallback: ["nano-b158"] });
  });

  it("cascade starts cheap and plans an escalation to a variant that meets the need", () => {
    const d = routed(run(input({ tier: tier({ strategy: "cascade" }), features: features({ qualityNeed: 0.9 }) })));
    expect(d).toMatchObject({ chosen: "nano-b158", reason: "cascade_start", degraded: false });
    expect(d.escalation).toEqual({ next: "nano-fp32", threshold: -1.5 });
  });

  it("cascade with nowhere to escalate has no plan, and is degraded when below the need", () => {
    const d = routed(
      run(
        input({
          tier: tier({ strategy: "cascade", allowedVariants: ["nano-b158"], qualityFloor: 0.9 }),
          variants: [ternary(), fullPrecision()],
        }),
      ),
    );
    expect(d).toMatchObject({ chosen: "nano-b158", escalation: null, degraded: true });
  });

  it("shouldEscalate compares the mean logprob with the threshold; no confidence escalates", () => {
    expect(shouldEscalate(-2, -1.5)).toBe(true);
    expect(shouldEscalate(-1.5, -1.5)).toBe(false);
    expect(shouldEscalate(-0.2, -1.5)).toBe(false);
    expect(shouldEscalate(Number.NaN, -1.5)).toBe(true);
    expect(shouldEscalate(Number.NEGATIVE_INFINITY, -1.5)).toBe(true);
  });
});

describe("decide — coverage", () => {
  it("every reason code was reached by a scenario above", () => {
    expect([...reached].sort()).toEqual([...REASON_CODES].sort());
  });
});
