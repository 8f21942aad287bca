/**
 * `npm run bench:gateway [-- --json FILE] [--quick] [--rates 200,1000] [--no-ramp]`
 *
 * Gateway overhead (issue 6): client-observed latency minus engine time, for short non-streaming chat
 * completions on the minimal-generation path (the tiny synthetic BitNet/fp32 pair on real worker
 * threads, `max_tokens: 1`), at 200 and 1000 requests/s, against a bare Hono route on
 * @hono/node-server in the same run. The gateway is the real `createGateway` app: request id, body
 * limit, auth, zod validation, the in-memory rate limiter (limits far above the load), routing and
 * the decision recorder. Engine time is the gateway's `x-tritgate-engine-ms` header (prefill +
 * decode, timed inside the engine worker); `x-tritgate-queue-ms` (waiting for a slot) is reported
 * beside it. Load is open-loop (fixed arrival times, from a worker thread with its own event loop)
 * over keep-alive loopback connections. The same gateway over an engine that answers at once on the
 * main thread ("cached": no worker, no generation) separates the gateway's own cost from engine
 * capacity; a twin of it with `metrics: false` (no metrics observer at the end-of-request seam), measured
 * interleaved with the others, gives the metrics' own cost as the on − off difference. A ramp then finds the highest sustained rate of each: achieved throughput ≥ 95 % of the
 * target, < 1 % errors and p99 latency < 50 ms (a failed step is tried twice). `--slots N` sets the
 * variants' concurrent generations (default 8); `--profile-rate N` runs only the gateway (or
 * `--profile-target cached|anchor`) at N req/s, for `node --cpu-prof --import tsx bench/gateway.ts --profile-rate N`.
 */
import { cpus, totalmem } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { serve } from "@hono/node-server";
import { startVariantWorker, type VariantWorker } from "../src/engines/pool/index.js";
import { createGateway } from "../src/server/app.js";
import { startServer } from "../src/server/serve.js";
import { MapDirectory, served, TINY_CONFIGS, tierConfig } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { tinyFamily } from "../test/helpers/tiny-family.js";
import { bareRouteApp, instantRuntime } from "./gateway/instant.js";
import type { FromLoadgen, PhaseSamples, PhaseSpec, ToLoadgen } from "./gateway/loadgen.js";
import { argValue, table, writeJson } from "./timing.js";

const quick = process.argv.includes("--quick");
const jsonPath = argValue("--json");
const PHASE_MS = quick ? 2000 : 5000;
const RAMP_MS = quick ? 1500 : 3000;
const WARMUP_MS = quick ? 1000 : 2000;
/** `--rates 200,1000` (default) picks the fixed rates; `--no-ramp` skips the ramp (a short before/after run) */
const RATES = (argValue("--rates") ?? "200,1000").split(",").map(Number);
const RAMP_ON = !process.argv.includes("--no-ramp");
const RAMP = [200, 400, 600, 800, 1000, 1200, 1400, 1600, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000];
/** concurrent generations per variant (the tiny test variants use 2); the queue bound stays the pool default */
const SLOTS = Number(argValue("--slots") ?? 8);
const SUSTAINED = { minAchieved: 0.95, maxErrorRate: 0.01, maxP99Ms: 50 };

const MB = 1024 * 1024;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** after a full collection of the main thread's heap (the worker threads' heaps are not collected) */
const memory = () => {
  gc();
  const m = process.memoryUsage();
  return { rssMB: m.rss / MB, heapUsedMB: m.heapUsed / MB };
};

/**
 * anchor: a bare Hono route; gateway: the full gateway over the tiny variants on worker threads;
 * cached: the same gateway over an engine that answers at once on the main thread (what a cache hit
 * would cost: no worker, no generation), which isolates the gateway's own work from engine capacity;
 * cachedNoMetrics: that gateway with `metrics: false`, so cached − cachedNoMetrics is what metrics cost.
 */
type Target = "anchor" | "gateway" | "cached" | "cachedNoMetrics";
const TARGETS: readonly Target[] = ["anchor", "gateway", "cached", "cachedNoMetrics"];
const LABEL: Record<Target, string> = {
  anchor: "bare Hono route latency",
  gateway: "gateway latency (tiny engines)",
  cached: "gateway latency (instant engine)",
  cachedNoMetrics: "gateway latency (instant engine, metrics off)",
};

// ---- the anchor: a bare Hono route returning a fixed chat.completion ----

function startAnchor(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = bareRouteApp();
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}/v1/chat/completions`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ("closeAllConnections" in server) server.closeAllConnections();
          }),
      });
    });
  });
}

// ---- an engine that answers at once (the "cached" target) ----

// ---- the load generator thread ----

function startLoadgen(): { run: (spec: PhaseSpec) => Promise<PhaseSamples>; close: () => Promise<number> } {
  // from sources: register tsx in the thread (as the engine pool does), then load loadgen.ts
  const entry = new URL("./gateway/loadgen.ts", import.meta.url).href;
  const worker = new Worker(new URL("../src/engines/pool/tsx-entry.mjs", import.meta.url), { workerData: { entry } });
  const pending = new Map<number, (s: PhaseSamples) => void>();
  let nextId = 1;
  worker.on("message", (m: FromLoadgen) => {
    pending.get(m.id)?.(m.samples);
    pending.delete(m.id);
  });
  worker.on("error", (e) => {
    console.error(`load generator failed: ${e.message}`);
    process.exit(1);
  });
  return {
    run: (spec) =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        const message: ToLoadgen = { type: "run", id, spec };
        worker.postMessage(message);
      }),
    close: () => worker.terminate(),
  };
}

// ---- statistics ----

interface Dist {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly n: number;
}

function dist(values: Iterable<number>): Dist | null {
  const v = Float64Array.from([...values].filter((x) => Number.isFinite(x))).sort();
  if (v.length === 0) return null;
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: v[v.length - 1]!, mean, n: v.length };
}

interface PhaseReport {
  readonly target: Target;
  readonly rate: number;
  readonly durationMs: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly achievedRps: number;
  readonly maxInFlight: number;
  readonly latencyMs: Dist | null;
  readonly intendedLatencyMs: Dist | null;
  readonly senderLagMs: Dist | null;
  /** gateway: engine time per request (x-tritgate-engine-ms) */
  readonly engineMs: Dist | null;
  /** gateway: slot wait per request (x-tritgate-queue-ms) */
  readonly queueMs: Dist | null;
  /** gateway: latency − engine time */
  readonly overheadMs: Dist | null;
  /** gateway: latency − engine time − slot wait */
  readonly overheadExQueueMs: Dist | null;
  /** gateway, part of the overhead: worker round trip at the pool handle − engine time (message hops, tokenising) */
  readonly poolHopMs: Dist | null;
  /** gateway, the rest: latency − worker round trip − slot wait (HTTP, middleware, routing, response) */
  readonly httpAndMiddlewareMs: Dist | null;
  readonly variants: Record<string, number>;
  /** event-loop utilisation of the server's thread over the phase (both servers share it) */
  readonly serverLoopUtilization: number;
  /** its busy time divided by requests sent */
  readonly serverLoopMsPerRequest: number;
  /**
   * CPU time of the whole process (all threads) over the phase, per request sent. Unlike loop busy time it
   * does not grow when the shared machine preempts the thread; the load generator's share is about the same
   * for every target, so the difference between two targets is the server's.
   */
  readonly processCpuMsPerRequest: number;
}

function report(
  target: Target,
  spec: PhaseSpec,
  s: PhaseSamples,
  elu: { utilization: number; active: number },
  cpu: NodeJS.CpuUsage,
): PhaseReport {
  const n = s.status.length;
  const okIdx: number[] = [];
  const statuses: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const code = s.status[i]!;
    statuses[String(code)] = (statuses[String(code)] ?? 0) + 1;
    if (code === 200) okIdx.push(i);
  }
  const pick = (a: Float64Array) => okIdx.map((i) => a[i]!);
  const gw = target !== "anchor";
  return {
    target,
    rate: spec.rate,
    durationMs: spec.durationMs,
    sent: n,
    ok: okIdx.length,
    errors: n - okIdx.length,
    statuses,
    achievedRps: (okIdx.length * 1000) / Math.max(s.spanMs, 1),
    maxInFlight: s.maxInFlight,
    latencyMs: dist(pick(s.latencyMs)),
    intendedLatencyMs: dist(pick(s.intendedLatencyMs)),
    senderLagMs: dist(s.lagMs),
    engineMs: gw ? dist(pick(s.engineMs)) : null,
    queueMs: gw ? dist(pick(s.queueMs)) : null,
    overheadMs: gw ? dist(okIdx.map((i) => s.latencyMs[i]! - s.engineMs[i]!)) : null,
    overheadExQueueMs: gw ? dist(okIdx.map((i) => s.latencyMs[i]! - s.engineMs[i]! - s.queueMs[i]!)) : null,
    poolHopMs: gw ? dist(okIdx.map((i) => s.workerMs[i]! - s.engineMs[i]!)) : null,
    httpAndMiddlewareMs: gw ? dist(okIdx.map((i) => s.latencyMs[i]! - s.workerMs[i]! - s.queueMs[i]!)) : null,
    variants: s.variants,
    serverLoopUtilization: elu.utilization,
    serverLoopMsPerRequest: elu.active / n,
    processCpuMsPerRequest: (cpu.user + cpu.system) / 1000 / n,
  };
}

function sustained(r: PhaseReport): boolean {
  return (
    r.achievedRps >= SUSTAINED.minAchieved * r.rate &&
    r.errors / r.sent < SUSTAINED.maxErrorRate &&
    r.latencyMs !== null &&
    r.latencyMs.p99 < SUSTAINED.maxP99Ms
  );
}

const f = (x: number | undefined, digits = 3) => (x === undefined ? "-" : x.toFixed(digits));
const quad = (d: Dist | null) => (d ? `${f(d.p50)} / ${f(d.p90)} / ${f(d.p99)} / ${f(d.max, 2)}` : "-");

// ---- main ----

async function main(): Promise<void> {
  const cores = cpus().length;
  process.stderr.write("starting the tiny variants on worker threads ... ");
  const family = await tinyFamily();
  const workers = {
    "tiny-b158": startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1, slots: SLOTS }),
    "tiny-fp32": startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1, slots: SLOTS }),
  };
  await Promise.all(Object.values(workers).map((w) => w.ready));
  process.stderr.write("ready\n");

  const tier = tierConfig({ name: "bench", requestsPerMinute: 1e9, tokensPerMinute: 1e12 });
  const directory = new MapDirectory([tier]);
  const key = directory.addTenant("bench", "bench");
  const limiter = createMemoryRateLimiter();
  const gateway = createGateway({ directory, limiter, variants: served(workers) });
  const gwServer = await startServer(gateway.app, { host: "127.0.0.1", port: 0 });
  const instant = createGateway({
    directory,
    limiter,
    variants: TINY_CONFIGS.map((config) => ({ config, worker: instantRuntime(config.name) })),
  });
  const cachedServer = await startServer(instant.app, { host: "127.0.0.1", port: 0 });
  const instantNoMetrics = createGateway({
    directory,
    limiter,
    metrics: false,
    variants: TINY_CONFIGS.map((config) => ({ config, worker: instantRuntime(config.name) })),
  });
  const noMetricsServer = await startServer(instantNoMetrics.app, { host: "127.0.0.1", port: 0 });
  const anchor = await startAnchor();
  const loadgen = startLoadgen();

  const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const specFor = (target: Target, rate: number, durationMs: number): PhaseSpec => ({
    url: {
      anchor: anchor.url,
      gateway: `${gwServer.url}/v1/chat/completions`,
      cached: `${cachedServer.url}/v1/chat/completions`,
      cachedNoMetrics: `${noMetricsServer.url}/v1/chat/completions`,
    }[target],
    headers,
    body,
    rate,
    durationMs,
    timeoutMs: 10_000,
  });
  const pause = () => new Promise((r) => setTimeout(r, 300));
  const phase = async (target: Target, rate: number, durationMs: number) => {
    const spec = specFor(target, rate, durationMs);
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const samples = await loadgen.run(spec);
    const elu = performance.eventLoopUtilization(elu0);
    const r = report(target, spec, samples, elu, process.cpuUsage(cpu0));
    await pause();
    return r;
  };

  // warm-up (JIT, connection pools, engine caches), not reported
  for (const target of TARGETS) await phase(target, 200, WARMUP_MS);
  const check = await loadgen.run(specFor("gateway", 10, 200));
  const shape = JSON.parse(check.sampleBody) as { object?: string; usage?: { completion_tokens?: number } };
  if (shape.object !== "chat.completion") throw new Error(`unexpected gateway answer: ${check.sampleBody}`);
  await pause();

  // --profile-rate N: only the gateway at N req/s (run under --cpu-prof to see where its time goes)
  const profileRate = Number(argValue("--profile-rate") ?? 0);
  if (profileRate > 0) {
    const profileTarget = (argValue("--profile-target") ?? "gateway") as Target;
    const r = await phase(profileTarget, profileRate, PHASE_MS);
    console.log(
      `${profileTarget} at ${profileRate} req/s: latency ${quad(r.latencyMs)}, overhead ${quad(r.overheadMs)} ms`,
    );
    console.log(
      `achieved ${r.achievedRps.toFixed(0)} req/s, ${r.errors} errors, variants ${JSON.stringify(r.variants)}`,
    );
    console.log(
      `server loop ${(100 * r.serverLoopUtilization).toFixed(0)} % busy, ${f(r.serverLoopMsPerRequest)} ms per request`,
    );
    console.log(`engine ${quad(r.engineMs)}, slot wait ${quad(r.queueMs)}`);
    console.log(`pool hop ${quad(r.poolHopMs)}, HTTP+middleware ${quad(r.httpAndMiddlewareMs)}`);
    await loadgen.close();
    await anchor.close();
    await gwServer.close();
    await cachedServer.close();
    await noMetricsServer.close();
    await Promise.all(Object.values(workers).map((w: VariantWorker) => w.close()));
    return;
  }

  const memBefore = memory();
  const phases: PhaseReport[] = [];
  for (const rate of RATES) {
    for (const target of TARGETS) {
      process.stderr.write(`${target} at ${rate} req/s for ${PHASE_MS / 1000} s ... `);
      const r = await phase(target, rate, PHASE_MS);
      process.stderr.write(`p99 ${f(r.latencyMs?.p99)} ms, ${r.errors} errors\n`);
      phases.push(r);
    }
  }
  const memAfterFixed = memory();

  const ramps: Record<Target, PhaseReport[]> = { anchor: [], gateway: [], cached: [], cachedNoMetrics: [] };
  const maxSustained: Record<Target, number | null> = {
    anchor: null,
    gateway: null,
    cached: null,
    cachedNoMetrics: null,
  };
  for (const target of RAMP_ON ? (["gateway", "cached", "anchor"] as const) : []) {
    ramp: for (const rate of RAMP) {
      // a step gets a second try, so that one stall of this shared machine does not end the ramp
      for (let attempt = 1; attempt <= 2; attempt++) {
        process.stderr.write(`ramp ${target} ${rate} req/s ... `);
        const r = await phase(target, rate, RAMP_MS);
        const ok = sustained(r);
        process.stderr.write(
          `achieved ${r.achievedRps.toFixed(0)}, p99 ${f(r.latencyMs?.p99, 2)} ms, errors ${r.errors} → ${ok ? "ok" : "not sustained"}\n`,
        );
        ramps[target].push(r);
        if (ok) {
          maxSustained[target] = rate;
          continue ramp;
        }
      }
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const memAfter = memory();

  await loadgen.close();
  await anchor.close();
  await gwServer.close();
  await cachedServer.close();
  await noMetricsServer.close();
  await Promise.all(Object.values(workers).map((w: VariantWorker) => w.close()));

  // ---- output ----
  const machine = {
    cores,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGB: totalmem() / 1024 ** 3,
    node: process.version,
    note: `${cores} cores shared by the load generator thread, the server's event loop and the engine worker threads`,
  };
  console.log(`\nGateway overhead, ${machine.note} (${machine.cpu}, Node ${machine.node}).`);
  console.log(
    "Non-streaming chat completion, max_tokens 1, open-loop arrivals over keep-alive loopback connections.\n" +
      "overhead = client latency − x-tritgate-engine-ms (prefill + decode timed inside the engine worker);\n" +
      "ex-queue also subtracts x-tritgate-queue-ms (waiting for an engine slot), and splits into the pool hop\n" +
      "(x-tritgate-worker-ms − engine: postMessage both ways, tokenising, worker scheduling) and HTTP+middleware\n" +
      "(latency − worker-ms − queue: loopback HTTP, Hono, auth, zod, limiter, routing, response). ms: p50 / p90 / p99 / max.\n",
  );
  const rows: string[][] = [];
  for (const r of phases) {
    const lat = LABEL[r.target];
    const loop = `${(100 * r.serverLoopUtilization).toFixed(0)} % (${f(r.serverLoopMsPerRequest)} ms/req)`;
    const cpu = `${f(r.processCpuMsPerRequest)} ms/req`;
    rows.push([String(r.rate), lat, quad(r.latencyMs), r.achievedRps.toFixed(0), String(r.errors), loop, cpu]);
    if (r.target !== "anchor") {
      rows.push(["", "  engine time", quad(r.engineMs), "", "", "", ""]);
      rows.push(["", "  slot wait", quad(r.queueMs), "", "", "", ""]);
      rows.push(["", "  overhead", quad(r.overheadMs), "", "", "", ""]);
      rows.push(["", "  overhead ex-queue", quad(r.overheadExQueueMs), "", "", "", ""]);
      rows.push(["", "    of which pool hop", quad(r.poolHopMs), "", "", "", ""]);
      rows.push(["", "    of which HTTP+middleware", quad(r.httpAndMiddlewareMs), "", "", "", ""]);
    }
    rows.push(["", "  sender lag", quad(r.senderLagMs), "", "", "", ""]);
  }
  console.log(
    table(
      ["req/s", "measure", "p50 / p90 / p99 / max", "achieved req/s", "errors", "server loop busy", "process CPU"],
      rows,
    ),
  );

  const at = (target: Target, rate: number) => phases.find((p) => p.target === target && p.rate === rate);
  console.log("");
  for (const rate of RATES) {
    const a = at("anchor", rate);
    for (const target of ["gateway", "cached", "cachedNoMetrics"] as const) {
      const g = at(target, rate);
      if (!g?.overheadMs || !a?.latencyMs) continue;
      const verdict = g.overheadMs.p99 < 1 ? "MET" : "MISSED";
      console.log(
        `${rate} req/s, ${target}: server loop ${f(g.serverLoopMsPerRequest)} vs bare ${f(a.serverLoopMsPerRequest)} ms/req ` +
          `(${f(g.serverLoopMsPerRequest / a.serverLoopMsPerRequest, 2)}x), process CPU ${f(g.processCpuMsPerRequest)} vs ` +
          `${f(a.processCpuMsPerRequest)} ms/req (${f(g.processCpuMsPerRequest / a.processCpuMsPerRequest, 2)}x)`,
      );
      console.log(
        `${rate} req/s, ${target}: p99 overhead ${f(g.overheadMs.p99)} ms (target < 1 ms: ${verdict}); ` +
          `above the bare route (p50 ${f(a.latencyMs.p50)}, p99 ${f(a.latencyMs.p99)} ms): ` +
          `p50 ${f(g.overheadMs.p50 - a.latencyMs.p50)} ms, p99 ${f(g.overheadMs.p99 - a.latencyMs.p99)} ms`,
      );
    }
  }
  for (const rate of RATES) {
    const on = at("cached", rate);
    const off = at("cachedNoMetrics", rate);
    if (!on?.latencyMs || !off?.latencyMs) continue;
    console.log(
      `${rate} req/s, metrics on − off (instant engine): server loop ` +
        `${f(on.serverLoopMsPerRequest)} − ${f(off.serverLoopMsPerRequest)} = ` +
        `${f(on.serverLoopMsPerRequest - off.serverLoopMsPerRequest)} ms/req, process CPU ` +
        `${f(on.processCpuMsPerRequest - off.processCpuMsPerRequest)} ms/req, p99 latency ` +
        `${f(on.latencyMs.p99)} − ${f(off.latencyMs.p99)} = ${f(on.latencyMs.p99 - off.latencyMs.p99)} ms`,
    );
  }
  console.log(
    "\nRamp (sustained: achieved ≥ 95 % of target, < 1 % errors, p99 latency < 50 ms; a failed step is tried twice):",
  );
  const rampRows = (["gateway", "cached", "anchor"] as const).flatMap((t) =>
    ramps[t].map((r) => [
      t,
      String(r.rate),
      r.achievedRps.toFixed(0),
      f(r.latencyMs?.p50),
      f(r.latencyMs?.p99),
      `${((100 * r.errors) / r.sent).toFixed(1)} %`,
      sustained(r) ? "yes" : "no",
    ]),
  );
  console.log(table(["target", "req/s", "achieved", "p50 ms", "p99 ms", "errors", "sustained"], rampRows));
  const top = (t: Target) =>
    maxSustained[t] === null
      ? "none"
      : `${maxSustained[t]} req/s${maxSustained[t] === RAMP.at(-1) ? " (ramp end)" : ""}`;
  console.log(
    `\nmax sustained: gateway ${top("gateway")}, gateway over the instant engine ${top("cached")}, bare route ${top("anchor")}`,
  );
  console.log(
    `RSS (whole process: server, engine workers, load generator): ${memBefore.rssMB.toFixed(1)} MB before, ` +
      `${memAfterFixed.rssMB.toFixed(1)} MB after the fixed-rate phases, ${memAfter.rssMB.toFixed(1)} MB after the ramp; ` +
      `main-thread heap after GC ${memBefore.heapUsedMB.toFixed(1)} → ${memAfter.heapUsedMB.toFixed(1)} MB`,
  );

  if (jsonPath) {
    writeJson(jsonPath, {
      benchmark: "gateway",
      date: new Date().toISOString(),
      quick,
      machine,
      request: JSON.parse(body) as unknown,
      phaseMs: PHASE_MS,
      rampMs: RAMP_MS,
      sustainedCriteria: SUSTAINED,
      phases,
      /** metrics on − off over the instant engine, per fixed rate */
      metricsOverhead: RATES.map((rate) => {
        const on = at("cached", rate);
        const off = at("cachedNoMetrics", rate);
        return {
          rate,
          serverLoopMsPerRequest: on && off ? on.serverLoopMsPerRequest - off.serverLoopMsPerRequest : null,
          processCpuMsPerRequest: on && off ? on.processCpuMsPerRequest - off.processCpuMsPerRequest : null,
          p99LatencyMs: on?.latencyMs && off?.latencyMs ? on.latencyMs.p99 - off.latencyMs.p99 : null,
        };
      }),
      ramp: ramps,
      maxSustainedRps: maxSustained,
      memory: { before: memBefore, afterFixedRates: memAfterFixed, after: memAfter },
    });
    console.log(`\nwrote ${jsonPath}`);
  }
}

await main();
