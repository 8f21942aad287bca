/**
 * `npm run bench:metrics`: what the metrics cost the request path and a scrape. Times `observeRequest` per request over a realistic label spread (5 tiers × 2 variants ×
 * 3 statuses, several reasons) and one `/metrics` render of the resulting registry; then the whole
 * gateway in-process (`app.request()`, an engine that answers at once) with the metrics observer on
 * and off (`metrics: false`), interleaved: the request path's cost per request, mean and p99.
 */
import { hardware } from "../kernels/index.js";
import { createMetrics, observeRequest, type RequestMetricsInput } from "../src/metrics/index.js";
import { createGateway } from "../src/server/app.js";
import { MapDirectory, TINY_CONFIGS, tierConfig } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { instantRuntime } from "./gateway/instant.js";
import { table } from "./timing.js";

const TIERS = ["free", "standard", "premium", "tight", "cascade"];
const VARIANTS = [
  ["nano-b158", "bitnet"],
  ["nano-fp32", "onnx"],
] as const;
const REASONS = ["cheapest_feasible", "strategy_cheapest", "best_effort", "cascade_start", "queued"];
const STATUSES = [200, 200, 200, 200, 499, 503];

function input(i: number): RequestMetricsInput {
  const [variant, engine] = VARIANTS[i % 2]!;
  return {
    tier: TIERS[i % TIERS.length]!,
    variant,
    engine,
    status: STATUSES[i % STATUSES.length]!,
    stream: i % 3 === 0,
    tokensIn: 20 + (i % 50),
    tokensOut: 1 + (i % 200),
    queueMs: i % 7,
    ttftMs: 5 + (i % 300),
    totalMs: 50 + (i % 5000),
    predictedTotalMs: 60 + (i % 4000),
    gatewayOverheadMs: 0.3 + (i % 10) / 10,
    cost: 1e-6 * (i % 13),
    price: 2e-6 * (i % 13),
    counterfactualCost: 3e-6 * (i % 13),
    energy: { joules: 0.01 * (i % 17), source: "estimate" },
    reason: REASONS[i % REASONS.length]!,
    degraded: i % 11 === 0,
    fallback: i % 17 === 0,
    escalated: i % 19 === 0,
    slaViolated: i % 23 === 0 ? ["ttft"] : [],
    cache: null,
  };
}

const metrics = createMetrics({
  variants: {
    variants: () =>
      VARIANTS.map(([variant, engine]) => ({
        variant,
        engine,
        running: 1,
        waiting: 0,
        slots: 4,
        kvTokens: null,
        unloaded: false,
        modelBytes: 1e6,
        breaker: "closed" as const,
      })),
  },
  kernels: { kernels: () => hardware() },
});
const inputs = Array.from({ length: 1000 }, (_, i) => input(i));
// warm up: every label set exists, the JIT has seen the path
for (const x of inputs) observeRequest(metrics, x);

const N = 200_000;
const t0 = performance.now();
for (let i = 0; i < N; i++) observeRequest(metrics, inputs[i % inputs.length]!);
const perRequestUs = ((performance.now() - t0) * 1000) / N;

const renders: number[] = [];
let bytes = 0;
for (let i = 0; i < 20; i++) {
  const s = performance.now();
  bytes = (await metrics.registry.metrics()).length;
  renders.push(performance.now() - s);
}
renders.sort((a, b) => a - b);
console.log(
  table(
    ["quantity", "value"],
    [
      ["observeRequest per request", `${perRequestUs.toFixed(2)} µs`],
      ["/metrics render (median of 20)", `${renders[10]!.toFixed(2)} ms`],
      ["/metrics size", `${(bytes / 1024).toFixed(0)} KiB`],
    ],
  ),
);

// ---- the whole request path, in-process, with and without metrics ----

const tier = tierConfig({ name: "bench", requestsPerMinute: 1e9, tokensPerMinute: 1e12 });
const directory = new MapDirectory([tier]);
const key = directory.addTenant("bench", "bench");
const variants = TINY_CONFIGS.map((config) => ({ config, worker: instantRuntime(config.name) }));
const apps = {
  off: createGateway({ directory, limiter: createMemoryRateLimiter(), variants, metrics: false }).app,
  on: createGateway({ directory, limiter: createMemoryRateLimiter(), variants }).app,
};
const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const samples: Record<"off" | "on", number[]> = { off: [], on: [] };
// many short alternating rounds, so the load of whatever else runs on the machine falls on both alike
const ROUNDS = 21;
const PER_ROUND = 800;
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
    for (let i = 0; i < PER_ROUND; i++) {
      const s = performance.now();
      const res = await apps[mode].request("/v1/chat/completions", { method: "POST", headers, body });
      await res.text();
      // the first round warms up
      if (round > 0) samples[mode].push(performance.now() - s);
    }
  }
}
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return {
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    p50: sorted[Math.floor(0.5 * sorted.length)]!,
    p99: sorted[Math.floor(0.99 * sorted.length)]!,
  };
};
const off = stats(samples.off);
const on = stats(samples.on);
console.log(
  `\nin-process request path over an instant engine (${samples.off.length} requests each, interleaved rounds)\n`,
);
const QUANTITIES = ["mean", "p50", "p99"] as const;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
console.log(
  table(
    ["metrics", ...QUANTITIES],
    [
      ["off", ...QUANTITIES.map((k) => us(off[k]))],
      ["on", ...QUANTITIES.map((k) => us(on[k]))],
      ["on − off", ...QUANTITIES.map((k) => us(on[k] - off[k]))],
    ],
  ),
);
