import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { hardware } from "../../kernels/index.js";
import { createMetrics, metricsRoute, observeRequest, type RequestMetricsInput, slaViolations } from "./index.js";
import { parseExposition, promtoolCheck } from "./testkit.js";

const ALLOWED_LABELS = new Set(["variant", "engine", "tier", "reason", "status", "isa", "source", "le"]);

const answered: RequestMetricsInput = {
  tier: "standard",
  variant: "nano-b158",
  engine: "bitnet",
  status: 200,
  stream: true,
  tokensIn: 12,
  tokensOut: 21,
  queueMs: 3,
  ttftMs: 40,
  totalMs: 240,
  predictedTotalMs: 200,
  gatewayOverheadMs: 0.6,
  cost: 0.002,
  price: 0.01,
  counterfactualCost: 0.005,
  energy: { joules: 1.5, source: "estimate" },
  reason: "cheapest_feasible",
  degraded: true,
  fallback: true,
  escalated: false,
  slaViolated: ["ttft"],
  cache: "miss",
};

function gatewayMetrics() {
  return createMetrics({
    variants: {
      variants: () => [
        {
          variant: "nano-b158",
          engine: "bitnet",
          running: 3,
          waiting: 1,
          slots: 4,
          // 3 running, but the latest batched step carried 2 (one was between steps, e.g. waiting to join)
          batchSize: 2,
          kvTokens: 900,
          modelBytes: 2_000_000,
          breaker: "closed",
          unloaded: false,
          cpuTurns: 1200,
          cpuTurnWaitSeconds: 0.75,
          cpuCores: 1,
        },
        {
          variant: "nano-fp32",
          engine: "onnx",
          running: 1,
          waiting: 0,
          slots: 2,
          batchSize: null,
          kvTokens: null,
          modelBytes: 8_000_000,
          breaker: "open",
          unloaded: true,
        },
      ],
    },
    kernels: { kernels: () => hardware() },
    recorder: { stats: () => ({ queueDepth: 7, written: 120, spilled: 3, replayed: 2, lost: 1 }) },
  });
}

async function scrape(metrics: ReturnType<typeof createMetrics>) {
  const app = new Hono().route("/metrics", metricsRoute(metrics.registry));
  const res = await app.request("/metrics");
  return { res, text: await res.text() };
}

describe("GET /metrics", () => {
  it("serves the text format with every tritgate_ metric, bounded labels, and passes promtool", async () => {
    const metrics = gatewayMetrics();
    observeRequest(metrics, answered);
    observeRequest(metrics, {
      ...answered,
      variant: null,
      engine: null,
      status: 429,
      tokensIn: 0,
      tokensOut: 0,
      queueMs: null,
      ttftMs: null,
      totalMs: 1,
      reason: "rejected_overload",
      energy: null,
      cost: null,
      slaViolated: [],
    });
    const { res, text } = await scrape(metrics);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);

    const samples = parseExposition(text);
    const names = new Set(samples.map((s) => s.name));
    for (const name of names) expect(name).toMatch(/^tritgate_/);
    for (const s of samples) {
      // process defaults carry their own fixed labels (gc kind, heap space, version)
      if (/^tritgate_(nodejs|process)_/.test(s.name)) continue;
      for (const label of Object.keys(s.labels)) expect(ALLOWED_LABELS, `${s.name} ${label}`).toContain(label);
    }
    // _total only on counters
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [name, type] of types) expect(name.endsWith("_total"), name).toBe(type === "counter");

    for (const name of [
      "tritgate_request_duration_seconds_bucket",
      "tritgate_time_to_first_token_seconds_bucket",
      "tritgate_predicted_request_duration_seconds_bucket",
      "tritgate_time_per_output_token_seconds_bucket",
      "tritgate_queue_wait_seconds_bucket",
      "tritgate_request_prompt_tokens_bucket",
      "tritgate_request_completion_tokens_bucket",
      "tritgate_gateway_overhead_seconds_bucket",
      "tritgate_requests_total",
      "tritgate_prompt_tokens_total",
      "tritgate_completion_tokens_total",
      "tritgate_routing_decisions_total",
      "tritgate_degraded_requests_total",
      "tritgate_fallback_requests_total",
      "tritgate_sla_violations_total",
      "tritgate_cost_dollars_total",
      "tritgate_price_dollars_total",
      "tritgate_counterfactual_cost_dollars_total",
      "tritgate_energy_joules_total",
      "tritgate_cache_misses_total",
      "tritgate_recorder_written_rows_total",
      "tritgate_recorder_lost_rows_total",
      "tritgate_recorder_spilled_rows_total",
      "tritgate_recorder_replayed_rows_total",
      "tritgate_recorder_queue_depth_rows",
      "tritgate_variant_running_requests",
      "tritgate_variant_waiting_requests",
      "tritgate_variant_batch_occupancy_ratio",
      "tritgate_variant_kv_tokens",
      "tritgate_variant_model_bytes",
      "tritgate_variant_breaker_state",
      "tritgate_variant_unloaded",
      "tritgate_capacity_recommended_replicas",
      "tritgate_variant_cpu_turns_total",
      "tritgate_variant_cpu_turn_wait_seconds_total",
      "tritgate_variant_cpu_cores",
      "tritgate_kernel_info",
      "tritgate_kernel_threads",
      "tritgate_process_cpu_seconds_total",
    ]) {
      expect(names, name).toContain(name);
    }

    const check = promtoolCheck(text);
    expect(check.output).toBe("");
    expect(check.ok).toBe(true);
  });

  it("counts what the observer is given, under the answering variant", async () => {
    const metrics = gatewayMetrics();
    observeRequest(metrics, answered);
    observeRequest(metrics, { ...answered, slaViolated: ["ttft", "total"], degraded: false, cache: "hit" });
    const samples = parseExposition((await scrape(metrics)).text);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    const served = { tier: "standard", variant: "nano-b158", engine: "bitnet" };
    expect(value("tritgate_requests_total", { ...served, status: "200" })).toBe(2);
    expect(value("tritgate_completion_tokens_total", served)).toBe(42);
    expect(value("tritgate_degraded_requests_total", served)).toBe(1);
    expect(value("tritgate_sla_violations_total", { ...served, reason: "ttft" })).toBe(2);
    expect(value("tritgate_sla_violations_total", { ...served, reason: "total" })).toBe(1);
    expect(value("tritgate_energy_joules_total", { ...served, source: "estimate" })).toBe(3);
    expect(value("tritgate_cache_hits_total", { tier: "standard" })).toBe(1);
    expect(value("tritgate_cache_misses_total", { tier: "standard" })).toBe(1);
    // TTFT 40 ms, then 20 tokens in 200 ms: 10 ms per output token
    expect(value("tritgate_time_per_output_token_seconds_sum", served)).toBeCloseTo(0.02, 9);
    expect(value("tritgate_time_to_first_token_seconds_bucket", { ...served, le: "0.05" })).toBe(2);
    expect(value("tritgate_time_to_first_token_seconds_bucket", { ...served, le: "0.025" })).toBe(0);
    // gauges read their sources at scrape time
    // occupancy is the real batch size over slots; an engine that does not batch (null) falls back to running
    expect(value("tritgate_variant_batch_occupancy_ratio", { variant: "nano-b158" })).toBe(0.5);
    expect(value("tritgate_variant_batch_occupancy_ratio", { variant: "nano-fp32" })).toBe(0.5);
    expect(value("tritgate_variant_breaker_state", { variant: "nano-fp32" })).toBe(2);
    expect(value("tritgate_variant_unloaded", { variant: "nano-fp32" })).toBe(1);
    expect(value("tritgate_variant_unloaded", { variant: "nano-b158" })).toBe(0);
    // nano-b158 holds 3 running + 1 waiting on 4 slots (the open nano-fp32 does not count): 1 / 0.8
    expect(value("tritgate_capacity_recommended_replicas")).toBeCloseTo(1.25, 12);
    expect(samples.some((s) => s.name === "tritgate_variant_kv_tokens" && s.labels.variant === "nano-fp32")).toBe(
      false,
    );
    // CPU turn totals mirror the pool's figures; a variant without them has no sample
    expect(value("tritgate_variant_cpu_turns_total", { variant: "nano-b158", engine: "bitnet" })).toBe(1200);
    expect(value("tritgate_variant_cpu_turn_wait_seconds_total", { variant: "nano-b158" })).toBe(0.75);
    expect(value("tritgate_variant_cpu_cores", { variant: "nano-b158" })).toBe(1);
    expect(samples.some((s) => s.name === "tritgate_variant_cpu_cores" && s.labels.variant === "nano-fp32")).toBe(
      false,
    );
    expect(samples.some((s) => s.name === "tritgate_variant_cpu_turns_total" && s.labels.variant === "nano-fp32")).toBe(
      false,
    );
    expect(value("tritgate_recorder_written_rows_total")).toBe(120);
    expect(value("tritgate_recorder_lost_rows_total")).toBe(1);
    expect(value("tritgate_kernel_info", { isa: hardware().isa })).toBe(1);
  });

  it("keeps registries apart: two gateways in one process count separately", async () => {
    const a = gatewayMetrics();
    const b = gatewayMetrics();
    observeRequest(a, answered);
    const inB = parseExposition((await scrape(b)).text).filter((s) => s.name === "tritgate_requests_total");
    expect(inB).toEqual([]);
  });
});

describe("slaViolations", () => {
  it("names each bound missed; no TTFT bound without a first token", () => {
    const sla = { ttftMs: 800, totalMs: 10_000 };
    expect(slaViolations(sla, 900, 11_000)).toEqual(["ttft", "total"]);
    expect(slaViolations(sla, 800, 10_000)).toEqual([]);
    expect(slaViolations(sla, null, 12_000)).toEqual(["total"]);
  });
});
