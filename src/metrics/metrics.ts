/**
 * The gateway's Prometheus metrics: one registry per gateway (never prom-client's global default),
 * holding the process defaults and every `tritgate_` metric. Labels are bounded to what config
 * defines — variant, engine, tier, reason, status, isa, and energy's source — never a tenant, key,
 * client-supplied model string or prompt, so the series count is fixed by the config.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { type CapacityPolicy, DEFAULT_CAPACITY_POLICY, recommendedReplicas, TtftSlaWindow } from "./capacity.js";
import { CounterFamily, HistogramFamily } from "./families.js";
import { RecentRequests } from "./recent.js";
import type { KernelInfoSource, RecorderStatsSource, VariantStateSource } from "./sources.js";

/**
 * Buckets are for LLM serving on CPUs, where times spread over five decades: a nano model decodes a
 * token in half a millisecond, a 2B ternary model at one thread in ~100 ms, and a long answer takes
 * minutes. The TTFT and total buckets include the default tiers' SLA bounds (0.8 s, 2 s, 5 s; 10 s,
 * 20 s, 60 s) so a quantile near an SLA is not smeared across a wide bucket.
 */
export const BUCKETS = {
  requestSeconds: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
  ttftSeconds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1, 2, 5, 10, 30],
  timePerOutputTokenSeconds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  queueSeconds: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  /** prompts and answers from a handful of tokens to a full context */
  tokens: [1, 4, 16, 64, 256, 1024, 4096, 16384],
  /** what the gateway adds on top of the engine: well under a millisecond when healthy */
  overheadSeconds: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
} as const;

/** Breaker state as a number (a state label would double the series and is not in the label set). */
export const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

const SERVED = ["tier", "variant", "engine"] as const;

export interface MetricsSources {
  readonly variants?: VariantStateSource;
  readonly kernels?: KernelInfoSource;
  readonly recorder?: RecorderStatsSource;
}

export interface MetricsOptions {
  /** requests the live page's ring keeps; default 5000 */
  readonly recentCapacity?: number;
  /** clock (ms since epoch); tests pin it */
  readonly now?: () => number;
  /** how the capacity signal is derived (capacity.ts); default DEFAULT_CAPACITY_POLICY */
  readonly capacity?: CapacityPolicy;
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;

export function createMetrics(sources: MetricsSources = {}, options: MetricsOptions = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tritgate_" });
  // prom-client's gauges of active handles, requests and resources end in _total, which Prometheus
  // reserves for counters; their per-type twins (same names without _total) stay
  for (const name of ["active_handles_total", "active_requests_total", "active_resources_total"]) {
    registry.removeSingleMetric(`tritgate_nodejs_${name}`);
  }
  const registers = [registry];
  const now = options.now ?? Date.now;
  const capacityPolicy = options.capacity ?? DEFAULT_CAPACITY_POLICY;
  const ttftSla = new TtftSlaWindow();

  // request metrics: label values are passed in labelNames order
  const histogram = (name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) =>
    new HistogramFamily(name, help, labelNames, buckets, registry);
  const counter = (name: string, help: string, labelNames: readonly string[]) =>
    new CounterFamily(name, help, labelNames, registry);

  /** `write` with each variant's labels and its value (`read`), for the variants that have one. */
  const eachVariant = (
    read: (v: ReturnType<VariantStateSource["variants"]>[number]) => number | null | undefined,
    write: (labels: { variant: string; engine: string }, value: number) => void,
  ) => {
    for (const v of sources.variants?.variants() ?? []) {
      const value = read(v);
      if (value !== null && value !== undefined) write({ variant: v.variant, engine: v.engine }, value);
    }
  };
  const variantGauge = (
    name: string,
    help: string,
    read: (v: ReturnType<VariantStateSource["variants"]>[number]) => number | null,
  ) =>
    new Gauge<"variant" | "engine">({
      name,
      help,
      labelNames: ["variant", "engine"],
      registers,
      collect() {
        this.reset();
        eachVariant(read, (labels, value) => this.set(labels, value));
      },
    });
  // CPU turn totals are kept by the pool (shared memory its workers write); mirrored at scrape time
  const variantCounter = (
    name: string,
    help: string,
    read: (v: ReturnType<VariantStateSource["variants"]>[number]) => number | null | undefined,
  ) =>
    new Counter<"variant" | "engine">({
      name,
      help,
      labelNames: ["variant", "engine"],
      registers,
      collect() {
        this.reset();
        eachVariant(read, (labels, value) => this.inc(labels, value));
      },
    });
  // recorder row counts are kept by the recorder; the counter mirrors its monotonic figure at scrape time
  const recorderCounter = (name: string, help: string, read: (s: ReturnType<RecorderStatsSource["stats"]>) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (!sources.recorder) return;
        this.reset();
        this.inc(read(sources.recorder.stats()));
      },
    });

  return {
    registry,
    now,
    /** recent requests' TTFT against their tier's SLA, for the capacity signal */
    ttftSla,
    /** the latest requests, for `GET /ui/data.json` */
    recent: new RecentRequests(options.recentCapacity ?? 5000),
    requestDuration: histogram(
      "tritgate_request_duration_seconds",
      "Request arrival to last byte, by tier, answering variant and HTTP status.",
      [...SERVED, "status"],
      BUCKETS.requestSeconds,
    ),
    predictedDuration: histogram(
      "tritgate_predicted_request_duration_seconds",
      "The router's predicted total time for the variant it chose (to set against the measured duration).",
      SERVED,
      BUCKETS.requestSeconds,
    ),
    timeToFirstToken: histogram(
      "tritgate_time_to_first_token_seconds",
      "Request arrival to the first content token (not the role chunk).",
      SERVED,
      BUCKETS.ttftSeconds,
    ),
    timePerOutputToken: histogram(
      "tritgate_time_per_output_token_seconds",
      "Time after the first token divided by the tokens after it (answers of two or more tokens).",
      SERVED,
      BUCKETS.timePerOutputTokenSeconds,
    ),
    queueWait: histogram(
      "tritgate_queue_wait_seconds",
      "Wait for a free slot in the variant's worker.",
      SERVED,
      BUCKETS.queueSeconds,
    ),
    promptTokens: histogram("tritgate_request_prompt_tokens", "Prompt tokens per request.", SERVED, BUCKETS.tokens),
    completionTokens: histogram(
      "tritgate_request_completion_tokens",
      "Completion tokens per request (all choices).",
      SERVED,
      BUCKETS.tokens,
    ),
    gatewayOverhead: histogram(
      "tritgate_gateway_overhead_seconds",
      "Request time not spent in an engine or its queue: auth, validation, routing, rendering.",
      ["tier"],
      BUCKETS.overheadSeconds,
    ),
    requests: counter(
      "tritgate_requests_total",
      "Requests answered, by tier, variant (none when no variant answered) and HTTP status.",
      [...SERVED, "status"],
    ),
    promptTokensTotal: counter("tritgate_prompt_tokens_total", "Prompt tokens served.", SERVED),
    completionTokensTotal: counter("tritgate_completion_tokens_total", "Completion tokens generated.", SERVED),
    routingDecisions: counter(
      "tritgate_routing_decisions_total",
      "Routing decisions by tier and the router's reason code.",
      ["tier", "reason"],
    ),
    degraded: counter(
      "tritgate_degraded_requests_total",
      "Answers from a variant below the request's quality need.",
      SERVED,
    ),
    fallback: counter(
      "tritgate_fallback_requests_total",
      "Answers from a variant other than the router's first choice (it failed or refused).",
      SERVED,
    ),
    escalated: counter(
      "tritgate_escalated_requests_total",
      "Cascade answers re-answered by the stronger variant.",
      SERVED,
    ),
    slaViolations: counter(
      "tritgate_sla_violations_total",
      "Requests over their tier's SLA; reason is the bound missed: ttft or total.",
      [...SERVED, "reason"],
    ),
    cost: counter("tritgate_cost_dollars_total", "What serving cost (CPU core-hours at the variant's price).", SERVED),
    price: counter("tritgate_price_dollars_total", "What tenants were charged (the tier's token prices).", SERVED),
    counterfactualCost: counter(
      "tritgate_counterfactual_cost_dollars_total",
      "What the same requests would have cost on the family's fp32 reference variant.",
      SERVED,
    ),
    energy: counter(
      "tritgate_energy_joules_total",
      'Energy of the generations; source="rapl" (measured package energy split by CPU time) or "estimate" (CPU time x watts per core).',
      [...SERVED, "source"],
    ),
    cacheHits: counter("tritgate_cache_hits_total", "Requests answered from the response cache.", ["tier"]),
    cacheMisses: counter("tritgate_cache_misses_total", "Requests the response cache could not answer.", ["tier"]),
    recorderWritten: recorderCounter(
      "tritgate_recorder_written_rows_total",
      "Request rows the recorder wrote to its store.",
      (s) => s.written,
    ),
    recorderSpilled: recorderCounter(
      "tritgate_recorder_spilled_rows_total",
      "Request rows spilled to the local journal while the store was unavailable.",
      (s) => s.spilled,
    ),
    recorderReplayed: recorderCounter(
      "tritgate_recorder_replayed_rows_total",
      "Journal rows replayed into the store.",
      (s) => s.replayed,
    ),
    recorderLost: recorderCounter(
      "tritgate_recorder_lost_rows_total",
      "Request rows lost: neither the store nor the journal took them.",
      (s) => s.lost,
    ),
    recorderQueueDepth: new Gauge({
      name: "tritgate_recorder_queue_depth_rows",
      help: "Rows waiting in the recorder's queue.",
      registers,
      collect() {
        if (sources.recorder) this.set(sources.recorder.stats().queueDepth);
      },
    }),
    running: variantGauge("tritgate_variant_running_requests", "Generations running on the variant.", (v) => v.running),
    waiting: variantGauge("tritgate_variant_waiting_requests", "Requests queued for the variant.", (v) => v.waiting),
    batchOccupancy: variantGauge(
      "tritgate_variant_batch_occupancy_ratio",
      "Sequences in the variant's latest batched step over its slots (running generations over slots for an engine that does not batch).",
      (v) => (v.slots > 0 ? (v.batchSize ?? v.running) / v.slots : 0),
    ),
    kvTokens: variantGauge(
      "tritgate_variant_kv_tokens",
      "KV-cache tokens held by running generations.",
      (v) => v.kvTokens,
    ),
    cpuTurns: variantCounter(
      "tritgate_variant_cpu_turns_total",
      "Forward calls that ran on cores of the CPU budget.",
      (v) => v.cpuTurns,
    ),
    cpuCores: variantGauge(
      "tritgate_variant_cpu_cores",
      "Cores of the CPU budget the variant's latest forward call ran on (the kernels' pool takes what busy ONNX variants leave).",
      (v) => v.cpuCores ?? null,
    ),
    cpuTurnWait: variantCounter(
      "tritgate_variant_cpu_turn_wait_seconds_total",
      "Time the variant's forward calls waited for cores of the CPU budget while other engines held them.",
      (v) => v.cpuTurnWaitSeconds,
    ),
    modelBytes: variantGauge("tritgate_variant_model_bytes", "Bytes of the variant's model.", (v) => v.modelBytes),
    breakerState: variantGauge(
      "tritgate_variant_breaker_state",
      "Circuit breaker: 0 closed, 1 half open, 2 open.",
      (v) => BREAKER_STATE_VALUE[v.breaker],
    ),
    unloaded: variantGauge(
      "tritgate_variant_unloaded",
      "1 while the variant's model is unloaded for idleness (or reloading for a request), else 0.",
      (v) => (v.unloaded ? 1 : 0),
    ),
    recommendedReplicas: new Gauge({
      name: "tritgate_capacity_recommended_replicas",
      help: "Replicas like this one its load needs: max(busiest variant's (running+waiting)/slots / target occupancy, p95 TTFT/SLA when over 1). Sum over replicas for the fleet.",
      registers,
      collect() {
        const variants = (sources.variants?.variants() ?? []).map((v) => ({
          running: v.running,
          waiting: v.waiting,
          slots: v.slots,
          serving: v.breaker !== "open",
        }));
        const sla = ttftSla.p95(now(), capacityPolicy.windowMs);
        this.set(recommendedReplicas({ variants, ttftSla: sla }, capacityPolicy));
      },
    }),
    kernelInfo: new Gauge<"isa">({
      name: "tritgate_kernel_info",
      help: "1 for the ISA the kernels dispatch to.",
      labelNames: ["isa"],
      registers,
      collect() {
        if (!sources.kernels) return;
        this.reset();
        this.set({ isa: sources.kernels.kernels().isa }, 1);
      },
    }),
    kernelThreads: new Gauge({
      name: "tritgate_kernel_threads",
      help: "Threads in the kernels' pool (the calling thread included).",
      registers,
      collect() {
        if (sources.kernels) this.set(sources.kernels.kernels().threads);
      },
    }),
  };
}
