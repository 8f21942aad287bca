/**
 * The capacity signal's formula (capacity.ts), as a pure function, then as the gauge /metrics shows
 * once requests have been observed (promtool checks the exposition).
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import {
  type CapacityPolicy,
  createMetrics,
  metricsRoute,
  observeRequest,
  type RequestMetricsInput,
  recommendedReplicas,
  TtftSlaWindow,
  type VariantGaugeState,
} from "./index.js";
import { parseExposition, promtoolCheck } from "./testkit.js";

const POLICY: CapacityPolicy = { targetOccupancy: 0.8, minSamples: 4, windowMs: 60_000 };
const idle = { running: 0, waiting: 0, slots: 4, serving: true };

describe("recommendedReplicas", () => {
  it("is the busiest serving variant's (running + waiting) / slots over the target occupancy", () => {
    // 4 running + 4 waiting on 4 slots: twice what the slots take, at 80% target → 2.5 replicas
    const busy = { running: 4, waiting: 4, slots: 4, serving: true };
    expect(recommendedReplicas({ variants: [busy, idle], ttftSla: null }, POLICY)).toBeCloseTo(2.5, 12);
    // the same load on one slot of two: occupancy 0.5 → 0.625
    const half = { running: 1, waiting: 0, slots: 2, serving: true };
    expect(recommendedReplicas({ variants: [half, idle], ttftSla: null }, POLICY)).toBeCloseTo(0.625, 12);
    // at exactly the target it recommends exactly this one replica
    const atTarget = { running: 4, waiting: 0, slots: 5, serving: true };
    expect(recommendedReplicas({ variants: [atTarget], ttftSla: null }, POLICY)).toBeCloseTo(1, 12);
  });

  it("reports 0 when idle, so a sum over replicas is not one per replica", () => {
    expect(recommendedReplicas({ variants: [idle, idle], ttftSla: null }, POLICY)).toBe(0);
    expect(recommendedReplicas({ variants: [], ttftSla: null }, POLICY)).toBe(0);
  });

  it("leaves out variants that cannot serve now and nonsense counts", () => {
    const failed = { running: 0, waiting: 9, slots: 1, serving: false };
    expect(recommendedReplicas({ variants: [failed, idle], ttftSla: null }, POLICY)).toBe(0);
    const broken = { running: Number.NaN, waiting: -3, slots: 0, serving: true };
    expect(recommendedReplicas({ variants: [broken], ttftSla: null }, POLICY)).toBe(0);
  });

  it("raises the recommendation to the p95 TTFT / SLA ratio when the SLA is missed", () => {
    const light = { running: 1, waiting: 0, slots: 4, serving: true }; // 0.3125 from occupancy
    const missed = { p95Ratio: 1.8, samples: 10 };
    expect(recommendedReplicas({ variants: [light], ttftSla: missed }, POLICY)).toBeCloseTo(1.8, 12);
    // within the SLA it never lowers what occupancy asks for
    const held = { p95Ratio: 0.4, samples: 10 };
    expect(recommendedReplicas({ variants: [light], ttftSla: held }, POLICY)).toBeCloseTo(0.3125, 12);
    // too few requests in the window: their p95 is not trusted
    const few = { p95Ratio: 3, samples: 3 };
    expect(recommendedReplicas({ variants: [light], ttftSla: few }, POLICY)).toBeCloseTo(0.3125, 12);
    // occupancy wins when it asks for more
    const queued = { running: 4, waiting: 8, slots: 4, serving: true };
    expect(recommendedReplicas({ variants: [queued], ttftSla: missed }, POLICY)).toBeCloseTo(3.75, 12);
  });
});

describe("TtftSlaWindow", () => {
  it("is a nearest-rank p95 of TTFT / SLA over the window, bounded in what it keeps", () => {
    const window = new TtftSlaWindow(100);
    for (let i = 1; i <= 20; i++) window.add(1000 + i, i * 10, 100); // ratios 0.1 … 2.0
    expect(window.p95(2000, 60_000)).toEqual({ p95Ratio: 1.9, samples: 20 });
    // older than the window: gone
    expect(window.p95(1000 + 60_001 + 20, 60_000)).toBeNull();
    // a request without an SLA or a TTFT is not counted
    window.add(1500, 10, 0);
    window.add(1500, Number.NaN, 100);
    expect(window.p95(2000, 60_000)?.samples).toBe(20);
    // the ring keeps the newest `capacity`
    const small = new TtftSlaWindow(3);
    for (const ttft of [900, 900, 900, 10, 10, 10]) small.add(5, ttft, 100);
    expect(small.p95(5, 1000)).toEqual({ p95Ratio: 0.1, samples: 3 });
  });
});

describe("tritgate_capacity_recommended_replicas", () => {
  const answered: RequestMetricsInput = {
    tier: "premium",
    variant: "nano-b158",
    engine: "bitnet",
    status: 200,
    stream: true,
    tokensIn: 12,
    tokensOut: 8,
    queueMs: 900,
    ttftMs: 1200,
    totalMs: 1400,
    predictedTotalMs: 300,
    gatewayOverheadMs: 1,
    cost: null,
    price: null,
    counterfactualCost: null,
    energy: null,
    reason: "cheapest_feasible",
    degraded: false,
    fallback: false,
    escalated: false,
    slaViolated: ["ttft"],
    cache: null,
    ttftSlaMs: 800,
  };
  const variant = (over: Partial<VariantGaugeState>): VariantGaugeState => ({
    variant: "nano-b158",
    engine: "bitnet",
    running: 1,
    waiting: 0,
    slots: 4,
    kvTokens: null,
    modelBytes: null,
    breaker: "closed",
    unloaded: false,
    ...over,
  });

  async function gauge(metrics: ReturnType<typeof createMetrics>) {
    const app = new Hono().route("/metrics", metricsRoute(metrics.registry));
    const text = await (await app.request("/metrics")).text();
    expect(promtoolCheck(text).output).toBe("");
    return parseExposition(text).find((s) => s.name === "tritgate_capacity_recommended_replicas")?.value;
  }

  it("follows the queue at scrape time and the SLA misses observed in the window", async () => {
    let load = variant({});
    let now = 1_000_000;
    const metrics = createMetrics(
      { variants: { variants: () => [load] } },
      { now: () => now, capacity: { targetOccupancy: 0.5, minSamples: 20, windowMs: 60_000 } },
    );
    expect(await gauge(metrics)).toBeCloseTo(0.5, 12); // 1 of 4 slots at 50% target
    load = variant({ running: 4, waiting: 6 });
    expect(await gauge(metrics)).toBeCloseTo(5, 12);

    // the queue drained, but the last minute's premium requests waited 1.5x their TTFT SLA
    load = variant({});
    for (let i = 0; i < 20; i++) observeRequest(metrics, { ...answered, ttftMs: 1200 });
    expect(await gauge(metrics)).toBeCloseTo(1.5, 12);
    // requests that were not routed (no SLA) do not count
    for (let i = 0; i < 50; i++) observeRequest(metrics, { ...answered, ttftMs: 10, ttftSlaMs: null });
    expect(await gauge(metrics)).toBeCloseTo(1.5, 12);
    // a minute later that burst is out of the window
    now += 60_001;
    expect(await gauge(metrics)).toBeCloseTo(0.5, 12);
  });
});
