import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";
import { observeRequest, type RequestMetricsInput } from "./observe.js";
import { RecentRequests, type RecentSummary, summarize } from "./recent.js";
import { uiRoute } from "./ui-route.js";

const base: RequestMetricsInput = {
  tier: "standard",
  variant: "nano-b158",
  engine: "bitnet",
  status: 200,
  stream: false,
  tokensIn: 10,
  tokensOut: 40,
  queueMs: 0,
  ttftMs: 20,
  totalMs: 100,
  predictedTotalMs: 90,
  gatewayOverheadMs: 1,
  cost: 1e-6,
  price: 2e-6,
  counterfactualCost: 4e-6,
  energy: { joules: 0.5, source: "estimate" },
  reason: "cheapest_feasible",
  degraded: false,
  fallback: false,
  escalated: false,
  slaViolated: [],
  cache: null,
};

describe("summarize", () => {
  it("buckets tokens/s, unit cost and energy by variant, ternary share, savings and p95 per tier", () => {
    const ring = new RecentRequests(100);
    const t0 = 1_000_000_000_000; // a bucket boundary (multiple of 5 s)
    ring.add(t0 + 1000, base);
    ring.add(t0 + 2000, { ...base, totalMs: 300, ttftMs: 50 });
    ring.add(t0 + 3000, {
      ...base,
      variant: "nano-fp32",
      engine: "onnx",
      cost: 4e-6,
      energy: { joules: 2, source: "estimate" },
    });
    ring.add(t0 + 4000, { ...base, variant: null, engine: null, status: 429, reason: "rejected_overload", cost: null });
    const s: RecentSummary = summarize(ring.entries(), t0 + 4500, {
      bucketSeconds: 5,
      windowSeconds: 10,
      tiers: [{ name: "standard", ttftSlaMs: 30, totalSlaMs: 1000 }],
    });
    expect(s.t).toEqual([(t0 - 5000) / 1000, t0 / 1000]);
    expect(s.variants).toEqual(["nano-b158", "nano-fp32"]);
    expect(s.tokensPerSecond["nano-b158"]).toEqual([0, 16]); // 80 output tokens over 5 s
    expect(s.costPerMillionTokens["nano-b158"]![1]).toBeCloseTo(0.02, 12); // 2e-6 for 100 tokens
    expect(s.costPerMillionTokens["nano-b158"]![0]).toBeNull();
    expect(s.energyJoulesPerMillionTokens["nano-fp32"]![1]).toBeCloseTo(40_000, 6);
    expect(s.ternaryShare).toEqual([null, 2 / 3]);
    expect(s.savings[1]).toBeCloseTo(1 - 6e-6 / 12e-6, 9);
    const [standard] = s.tiers;
    expect(standard).toMatchObject({
      name: "standard",
      ttftSlaMs: 30,
      requests: 3,
      ttftP95WindowMs: 50,
      totalP95WindowMs: 300,
    });
    // newest first, rejected ones included
    expect(s.decisions.map((d) => d.status)).toEqual([429, 200, 200, 200]);
  });

  it("leaves out what fell out of the window or the ring", () => {
    const ring = new RecentRequests(2);
    for (let i = 0; i < 3; i++) ring.add(i * 1000, { ...base, tokensOut: i });
    expect(ring.entries().map((e) => e.tokensOut)).toEqual([1, 2]);
    expect(summarize(ring.entries(), 600_000, { windowSeconds: 60 }).variants).toEqual([]);
  });
});

describe("GET /ui", () => {
  it("serves the page, its script, uPlot from the installed package, and the data the observer fed", async () => {
    let now = 1_000_000_000_000;
    const metrics = createMetrics({}, { now: () => now });
    const app = new Hono().route("/ui", uiRoute({ metrics }));
    const page = await app.request("/ui");
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('src="/ui/uplot.js"');
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await app.request("/ui/uplot.js");
    expect(uplot.headers.get("content-type")).toMatch(/javascript/);
    expect(await uplot.text()).toContain("uPlot");
    expect((await app.request("/ui/app.js")).status).toBe(200);
    expect((await app.request("/ui/uplot.css")).headers.get("content-type")).toMatch(/^text\/css/);

    observeRequest(metrics, base);
    now += 1000;
    const data = (await (await app.request("/ui/data.json")).json()) as RecentSummary;
    expect(data.variants).toEqual(["nano-b158"]);
    expect(data.decisions[0]).toMatchObject({ tier: "standard", reason: "cheapest_feasible" });
  });
});
