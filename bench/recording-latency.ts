/**
 * Recording on vs off, for `bench/recorder.ts`: what writing every request to the database adds to the
 * gateway's latency at a fixed 500 requests/s. One process serves the real `createGateway` app over an
 * engine that answers at once (so the gateway's own path is what is timed) on loopback, once per mode:
 * `memory` (the default in-memory ring: recording off), `postgres` (a `DatabaseRecorder` on the local
 * server, a fresh database, COPY, as `tritgate serve` wires it: ring + recorder, the flusher on its own
 * thread), `postgres-inline` (the same with the flusher on the server's thread, as before the flusher
 * thread: the comparison that shows what the thread takes off the event loop) and `pglite`
 * (the same into PGlite, whose writes run on the server's own thread). Load is open-loop from a worker
 * thread (`gateway/loadgen.ts`). The modes are interleaved in rounds, the order rotated each round,
 * so machine noise lands on all of them alike. Afterwards every database holds exactly as many
 * request rows as the gateway gave answers (checked: none lost, none doubled).
 */
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { sql } from "drizzle-orm";
import { DatabaseRecorder } from "../src/db/recorder.js";
import { type TestDatabase, testDatabase } from "../src/db/testkit.js";
import { createGateway } from "../src/server/app.js";
import { type DecisionRecorder, MemoryRecorder } from "../src/server/recorder.js";
import { type RunningServer, startServer } from "../src/server/serve.js";
import { MapDirectory, TINY_CONFIGS, tierConfig } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { instantRuntime } from "./gateway/instant.js";
import type { FromLoadgen, PhaseSamples, PhaseSpec, ToLoadgen } from "./gateway/loadgen.js";

export type LatencyMode = "memory" | "postgres" | "postgres-inline" | "pglite";

export interface LatencyOptions {
  readonly rate: number;
  /** seconds of measured load per mode, split over the rounds */
  readonly secondsPerMode: number;
  readonly rounds: number;
  readonly modes: readonly LatencyMode[];
}

interface Dist {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly n: number;
}

export interface ModeLatency {
  readonly mode: LatencyMode;
  readonly latencyMs: Dist;
  /** p99 of each round, in round order */
  readonly roundP99Ms: readonly number[];
  readonly achievedPerS: number;
  readonly errors: number;
  /** answers given (warm-up included) and request rows found in the database afterwards */
  readonly responses: number;
  readonly rows: number | null;
  readonly spilled: number | null;
  readonly maxFlushMs: number | null;
  /**
   * the server thread's event-loop delay (1 ms sampling), stalls on its own thread: the median over
   * rounds of the round's p99, and the largest delay seen
   */
  readonly loopDelayMs: { readonly p99RoundMedian: number; readonly max: number };
  /**
   * the process's CPU time per request (all threads: the load generator's share is the same in every
   * mode, so the differences are what recording costs), µs
   */
  readonly cpuUsPerRequest: number;
}

export interface LatencyReport {
  readonly rate: number;
  readonly secondsPerMode: number;
  readonly rounds: number;
  readonly modes: readonly ModeLatency[];
  /**
   * each database mode minus `memory`, in ms: of the pooled p50 and p99, and the median over rounds
   * of the round's p99 difference (the paired figure, less swayed by one noisy round)
   */
  readonly addedMs: Record<string, { p50: number; p99: number; p99PairedMedian: number }>;
}

function dist(values: readonly number[]): Dist {
  const v = Float64Array.from(values.filter((x) => Number.isFinite(x))).sort();
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? Number.NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), n: v.length };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function startLoadgen(): { run: (spec: PhaseSpec) => Promise<PhaseSamples>; close: () => Promise<number> } {
  // from sources: register tsx in the thread (as the engine pool does), then load loadgen.ts
  const entry = new URL("./gateway/loadgen.ts", import.meta.url).href;
  const worker = new Worker(new URL("../src/engines/pool/tsx-entry.mjs", import.meta.url), { workerData: { entry } });
  const pending = new Map<number, { resolve: (s: PhaseSamples) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  worker.on("message", (m: FromLoadgen) => {
    pending.get(m.id)?.resolve(m.samples);
    pending.delete(m.id);
  });
  worker.on("error", (e) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  });
  return {
    run: (spec) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        const message: ToLoadgen = { type: "run", id, spec };
        worker.postMessage(message);
      }),
    close: () => worker.terminate(),
  };
}

interface Served {
  readonly mode: LatencyMode;
  readonly server: RunningServer;
  readonly db: TestDatabase | undefined;
  readonly recorder: DatabaseRecorder | undefined;
  readonly samples: number[];
  /** event-loop delay of each measured phase: p99 and max, ms */
  readonly loopDelayP99: number[];
  readonly loopDelayMax: number[];
  /** process CPU time (all threads) over the measured phases, µs */
  cpuUs: number;
  roundP99: number[];
  responses: number;
  errors: number;
  spanMs: number;
  measured: number;
}

/** As `tritgate serve` records: the ring `GET /admin/decisions` reads, and the database recorder. */
function ringAndDatabase(recorder: DatabaseRecorder): DecisionRecorder {
  const recent = new MemoryRecorder(1000);
  return {
    enqueue(request, decision) {
      recent.enqueue(request, decision);
      recorder.enqueue(request, decision);
    },
  };
}

export async function recordingLatency(options: LatencyOptions): Promise<LatencyReport> {
  const tier = tierConfig({ name: "bench", requestsPerMinute: 1e9, tokensPerMinute: 1e12 });
  const directory = new MapDirectory([tier]);
  const key = directory.addTenant("bench", "bench");
  const limiter = createMemoryRateLimiter();
  const variants = TINY_CONFIGS.map((config) => ({ config, worker: instantRuntime(config.name) }));

  const served: Served[] = [];
  for (const mode of options.modes) {
    let db: TestDatabase | undefined;
    let recorder: DatabaseRecorder | undefined;
    if (mode !== "memory") {
      db = await testDatabase(mode === "pglite" ? "pglite" : "postgres");
      recorder = await DatabaseRecorder.start({
        database: db.database,
        journalDir: join(db.dir, "journal"),
        ...(mode === "postgres-inline" ? { flusherThread: false } : {}),
      });
    }
    const gateway = createGateway({
      directory,
      limiter,
      variants,
      ...(recorder ? { recorder: ringAndDatabase(recorder) } : {}),
    });
    const server = await startServer(gateway.app, { host: "127.0.0.1", port: 0 });
    served.push({
      mode,
      server,
      db,
      recorder,
      samples: [],
      loopDelayP99: [],
      loopDelayMax: [],
      cpuUs: 0,
      roundP99: [],
      responses: 0,
      errors: 0,
      spanMs: 0,
      measured: 0,
    });
  }

  const loadgen = startLoadgen();
  const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const phase = async (s: Served, durationMs: number, measure: boolean) => {
    // a monitor per phase: one re-enabled would count the time it was off as one long delay
    const monitor = monitorEventLoopDelay({ resolution: 1 });
    monitor.enable();
    const cpu0 = process.cpuUsage();
    const r = await loadgen.run({
      url: `${s.server.url}/v1/chat/completions`,
      headers,
      body,
      rate: options.rate,
      durationMs,
      timeoutMs: 10_000,
    });
    const cpu = process.cpuUsage(cpu0);
    monitor.disable();
    if (measure) {
      s.cpuUs += cpu.user + cpu.system;
      s.loopDelayP99.push(monitor.percentile(99) / 1e6);
      s.loopDelayMax.push(monitor.max / 1e6);
    }
    let ok = 0;
    for (const code of r.status) if (code === 200) ok++;
    s.responses += r.status.filter((code) => code !== 0).length;
    if (!measure) return;
    const latencies = Array.from(r.intendedLatencyMs);
    s.samples.push(...latencies);
    s.roundP99.push(round3(dist(latencies).p99));
    s.errors += r.status.length - ok;
    s.spanMs += r.spanMs;
    s.measured += r.status.length;
  };

  try {
    for (const s of served) await phase(s, 1500, false); // JIT, connections, the first flushes
    const phaseMs = (options.secondsPerMode * 1000) / options.rounds;
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < served.length; k++) {
        const s = served[(round + k) % served.length];
        if (s) await phase(s, phaseMs, true);
      }
    }
  } finally {
    await loadgen.close();
  }

  const modes: ModeLatency[] = [];
  for (const s of served) {
    await s.server.close();
    let rows: number | null = null;
    if (s.recorder && s.db) {
      await s.recorder.close(); // drains the queue
      const [row] = await s.db.database.rows<{ n: number }>(sql`select count(*)::int as n from requests`);
      rows = row?.n ?? 0;
    }
    const stats = s.recorder?.stats();
    modes.push({
      mode: s.mode,
      latencyMs: mapDist(dist(s.samples)),
      roundP99Ms: s.roundP99,
      achievedPerS: Math.round(s.measured / (s.spanMs / 1000)),
      errors: s.errors,
      responses: s.responses,
      rows,
      spilled: stats?.spilled ?? null,
      maxFlushMs: stats ? round3(stats.maxFlushMs) : null,
      cpuUsPerRequest: Math.round(s.cpuUs / s.measured),
      loopDelayMs: { p99RoundMedian: round3(dist(s.loopDelayP99).p50), max: round3(Math.max(...s.loopDelayMax)) },
    });
    await s.db?.dispose();
  }
  const off = modes.find((m) => m.mode === "memory");
  const addedMs: LatencyReport["addedMs"] = {};
  for (const m of modes) {
    if (off && m !== off) {
      const paired = m.roundP99Ms.map((p99, i) => p99 - (off.roundP99Ms[i] ?? Number.NaN));
      addedMs[m.mode] = {
        p50: round3(m.latencyMs.p50 - off.latencyMs.p50),
        p99: round3(m.latencyMs.p99 - off.latencyMs.p99),
        p99PairedMedian: round3(dist(paired).p50),
      };
    }
  }
  return { rate: options.rate, secondsPerMode: options.secondsPerMode, rounds: options.rounds, modes, addedMs };
}

function mapDist(d: Dist): Dist {
  return { p50: round3(d.p50), p90: round3(d.p90), p99: round3(d.p99), max: round3(d.max), n: d.n };
}
