import { join } from "node:path";
import { EngineError, type VariantWorker } from "../src/engines/pool/index.js";
import type { GatewayMetrics } from "../src/metrics/index.js";
import { createGateway } from "../src/server/app.js";
import { MemoryRecorder } from "../src/server/recorder.js";
import { type RunningServer, startServer } from "../src/server/serve.js";
import { MapDirectory, startNanoVariants, tierConfig } from "../src/server/testkit.js";
import type { VariantRuntime } from "../src/server/types.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";

const _ROOT = join(import.meta.dirname, "..");

/** A prompt containing this makes the ternary variant fail with an engine fault, so the request falls back. */
export const FAIL_MARKER = "[fail-on-ternary]";

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
  const { config, workers, variants } = await startNanoVariants((worker, engine) =>
    engine === "bitnet" ? failingOnMarker(worker) : worker,
  );
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

  const recorder = new MemoryRecorder(10_000);
  const parts = createGateway({
    directory,
    limiter,
    variants,
    recorder,
    rateAlpha: 1e-9,
    // the injected faults must not open the ternary variant's breaker
    breaker: { consecutiveFailures: 1000, failureRate: 1, windowSize: 10, minSamples: 1000, cooldownMs: 1000 },
  });
  const { metrics } = parts;
  const app = parts.app;
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
