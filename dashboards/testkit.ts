/**
 * For the dashboard tests: a gateway over the committed nano variants with `/metrics` mounted and its
 * metrics fed from the recorder (until the end-of-request seam calls `observeRequest` itself), plus
 * tiers that produce every case the panels show. Not exported from the package.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { hardware } from "../kernels/index.js";
import { readModelCard } from "../src/config/card.js";
import { defaultConfig, variantCost } from "../src/config/index.js";
import { EngineError, startVariantWorker, type VariantWorker } from "../src/engines/pool/index.js";
import {
  createMetrics,
  type GatewayMetrics,
  metricsRoute,
  observeRequest,
  servedVariantSource,
  slaViolations,
  uiRoute,
} from "../src/metrics/index.js";
import { createGateway } from "../src/server/app.js";
import { type DecisionRecorder, type DecisionRow, MemoryRecorder, type RequestRow } from "../src/server/recorder.js";
import { type RunningServer, startServer } from "../src/server/serve.js";
import { MapDirectory, tierConfig } from "../src/server/testkit.js";
import type { GatewayEnv, ServedVariant, VariantProfile, VariantRuntime } from "../src/server/types.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";

const ROOT = join(import.meta.dirname, "..");

/** A prompt containing this makes the ternary variant fail with an engine fault, so the request falls back. */
export const FAIL_MARKER = "[fail-on-ternary]";

/**
 * A recorder that also observes each request row — the adapter the metrics need until the seam
 * hands them the outcome directly.
 */
export function observingRecorder(
  inner: DecisionRecorder,
  metrics: GatewayMetrics,
  variants: readonly { readonly config: VariantProfile }[],
): DecisionRecorder {
  const config = new Map(variants.map((v) => [v.config.name, v.config]));
  return {
    enqueue(request: RequestRow, decision: DecisionRow | null) {
      inner.enqueue(request, decision);
      const served = request.variant === null ? undefined : config.get(request.variant);
      const engineMs = served && request.cpuMs !== null ? request.cpuMs / served.cost.coresPerRequest : null;
      const chosen = decision?.chosen ?? null;
      const escalated = decision?.reason === "cascade_start" && request.variant !== null && request.variant !== chosen;
      const prediction = decision?.candidates.find((c) => c.variant === chosen)?.prediction;
      observeRequest(metrics, {
        tier: request.tier,
        variant: request.variant,
        engine: served?.engine ?? null,
        status: request.status,
        stream: request.stream,
        tokensIn: request.tokensIn,
        tokensOut: request.tokensOut,
        queueMs: request.queueMs,
        ttftMs: request.ttftMs,
        totalMs: request.totalMs,
        predictedTotalMs: prediction?.totalMs ?? null,
        gatewayOverheadMs: engineMs === null ? null : request.totalMs - (request.queueMs ?? 0) - engineMs,
        cost: request.cost,
        price: request.price,
        counterfactualCost: request.counterfactualCost,
        energy: request.energyJ === null ? null : { joules: request.energyJ, source: "estimate" },
        reason: decision?.reason ?? null,
        degraded: request.degraded,
        fallback: request.variant !== null && chosen !== null && request.variant !== chosen && !escalated,
        escalated,
        slaViolated:
          decision && request.variant !== null ? slaViolations(decision.sla, request.ttftMs, request.totalMs) : [],
        cache: null,
      });
    },
  };
}

/** The worker, except that prompts carrying FAIL_MARKER fail as an engine fault would. */
function failingOnMarker(worker: VariantWorker): VariantRuntime {
  return {
    get name() {
      return worker.name;
    },
    get state() {
      return worker.state;
    },
    get error() {
      return worker.error;
    },
    get info() {
      return worker.info;
    },
    get slots() {
      return worker.slots;
    },
    get running() {
      return worker.running;
    },
    get waiting() {
      return worker.waiting;
    },
    generate(request, onToken, signal) {
      const input = request.input;
      const text = input.kind === "text" ? input.text : input.messages.map((m) => JSON.stringify(m.content)).join("");
      if (text.includes(FAIL_MARKER)) {
        return Promise.reject(new EngineError(worker.name, "Error", "injected engine fault"));
      }
      return worker.generate(request, onToken, signal);
    },
  };
}

export interface MetricsGateway {
  readonly url: string;
  readonly metrics: GatewayMetrics;
  readonly keys: Record<string, string>;
  readonly recorder: MemoryRecorder;
  close(): Promise<void>;
}

/**
 * The nano family as `tritgate serve` runs it, with `/metrics` and `/ui` mounted, and two tiers beyond the
 * defaults: `tight` (a quality floor only fp32 meets, an SLA nothing meets: degraded, best effort, SLA
 * violations) and `cascade` (always escalates: mean log-probabilities are below 0).
 */
export async function startMetricsGateway(): Promise<MetricsGateway> {
  const config = defaultConfig();
  const workers = config.variants.map((v) =>
    startVariantWorker({ name: v.name, path: join(ROOT, v.path), threads: 1, slots: v.slots }),
  );
  await Promise.all(workers.map((w) => w.ready));
  const variants: ServedVariant[] = config.variants.map((v, i) => {
    const quality = readModelCard(join(ROOT, v.path))?.quality;
    if (quality === undefined) throw new Error(`${v.path}: its card states no quality`);
    return {
      config: {
        name: v.name,
        family: v.family,
        engine: v.engine,
        quality,
        card: {
          prefillTokensPerSecond: v.card.prefillTokensPerSecond,
          decodeTokensPerSecond: v.card.decodeTokensPerSecond,
        },
        cost: variantCost(v),
      },
      worker: v.engine === "bitnet" ? failingOnMarker(workers[i]!) : workers[i]!,
    };
  });
  const both = config.variants.map((v) => v.name);
  const tiers = [
    ...config.tiers,
    tierConfig({
      name: "tight",
      allowedVariants: both,
      qualityFloor: 0.95,
      ttftSlaMs: 0.001,
      totalSlaMs: 0.001,
      onOverload: "degrade",
      maxOutputTokens: 64,
    }),
    tierConfig({
      name: "cascade",
      allowedVariants: both,
      strategy: "cascade",
      cascadeThreshold: 0,
      maxOutputTokens: 64,
    }),
  ];
  const directory = new MapDirectory(tiers);
  const keys = Object.fromEntries(tiers.map((t) => [t.name, directory.addTenant(`tenant-${t.name}`, t.name)]));
  const limiter = createMemoryRateLimiter();
  const modelBytes = new Map(config.variants.map((v) => [v.name, statSync(join(ROOT, v.path)).size]));

  let gatewayRef: ReturnType<typeof createGateway>["gateway"] | undefined;
  const metrics = createMetrics({
    variants: servedVariantSource(variants, {
      breaker: (name) => gatewayRef?.states.breaker(name, Date.now()),
      modelBytes: (name) => modelBytes.get(name) ?? null,
    }),
    kernels: { kernels: () => hardware() },
  });
  const recorder = new MemoryRecorder(10_000);
  const parts = createGateway({
    directory,
    limiter,
    variants,
    recorder: observingRecorder(recorder, metrics, variants),
    rateAlpha: 1e-9,
    // the injected faults must not open the ternary variant's breaker
    breaker: { consecutiveFailures: 1000, failureRate: 1, windowSize: 10, minSamples: 1000, cooldownMs: 1000 },
  });
  gatewayRef = parts.gateway;
  const sla = tiers.map((t) => ({ name: t.name, ttftSlaMs: t.ttftSlaMs, totalSlaMs: t.totalSlaMs }));
  const app = new Hono<GatewayEnv>()
    .route("/metrics", metricsRoute(metrics.registry))
    .route("/ui", uiRoute({ metrics, tiers: sla }))
    .route("/", parts.app);
  const server: RunningServer = await startServer(app, { host: "127.0.0.1", port: 0 });
  return {
    url: server.url,
    metrics,
    keys,
    recorder,
    close: async () => {
      await server.close();
      await limiter.close();
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
