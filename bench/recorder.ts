/**
 * `npm run bench:recorder [-- --json FILE] [--quick] [--rows N] [--only pglite,postgres-insert,postgres-copy,latency] [--concurrency N]
 *   [--latency-seconds S] [--latency-rounds R] [--latency-modes memory,postgres,postgres-inline,pglite] [--no-latency-pglite] [--inline]`
 *
 * Sustained write rate of the database recorder: N request rows, each with its routing decision (two
 * candidates in the JSONB, as a two-variant family gives), enqueued in bursts of 1,000 per event-loop
 * turn through `DatabaseRecorder` and timed until `close()` has them all committed (queue large enough
 * that nothing spills). Into PGlite (multi-row INSERT) and into the local Postgres (DATABASE_URL or
 * 127.0.0.1:5432, a fresh database per run) by multi-row INSERT and by COPY. `rows/s` counts request
 * rows and decision rows; `requests/s` the requests. The time `enqueue` takes on the request path is
 * reported beside it. Then retention on Postgres: one day of 1,000,000 requests removed by batched
 * DELETE (10,000 rows a statement) against DROP of the day's partition, with the time taken and the
 * table's size on disk afterwards (before VACUUM: what a DELETE leaves behind). Last, the latency
 * recording adds to the gateway at 500 requests/s, recording off (in-memory ring) against on (Postgres,
 * PGlite), interleaved in the same run (`recording-latency.ts`; S seconds of load per mode, default 10).
 * The host's load average (`/proc/loadavg`) is recorded before and after: the machine is shared.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import type { Candidate } from "../router/index.js";
import type { RecordEntry } from "../src/db/entry.js";
import { DatabaseRecorder } from "../src/db/recorder.js";
import { POSTGRES_ADMIN_URL, type TestDatabase, testDatabase } from "../src/db/testkit.js";
import type { WriteMethod } from "../src/db/write.js";
import { type LatencyMode, type LatencyReport, recordingLatency } from "./recording-latency.js";

const { values } = parseArgs({
  options: {
    json: { type: "string" },
    quick: { type: "boolean" },
    rows: { type: "string" },
    only: { type: "string" },
    concurrency: { type: "string" },
    "latency-seconds": { type: "string" },
    "latency-rounds": { type: "string" },
    "latency-modes": { type: "string" },
    "no-latency-pglite": { type: "boolean" },
    inline: { type: "boolean" },
  },
});
const quick = values.quick === true;
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
const loadBefore = loadAverage();
const postgresRows = Number(values.rows ?? (quick ? 20_000 : 200_000));
const pgliteRows = Math.min(postgresRows, quick ? 5_000 : 50_000);

function candidate(variant: string, engine: "bitnet" | "onnx", quality: number, i: number): Candidate {
  const prefillMs = 3 + (i % 5);
  const decodeMs = 40 + (i % 30);
  return {
    variant,
    family: "nano",
    engine,
    quality,
    prediction: {
      loadMs: 0,
      queueMs: i % 3,
      prefillMs,
      decodeMs,
      ttftMs: prefillMs + (i % 3),
      totalMs: prefillMs + decodeMs + (i % 3),
      cpuSeconds: (prefillMs + decodeMs) / 1000,
      cost: 0.0000123,
      energyJ: 0.61,
      price: 0.00042,
    },
    allowed: true,
    healthy: true,
    meetsQuality: quality >= 0.5,
    meetsTtft: true,
    meetsTotal: true,
    feasible: quality >= 0.5,
    issues: quality >= 0.5 ? [] : ["below_quality_need"],
  };
}

function entry(i: number, createdAt: string): RecordEntry {
  const requestId = `bench-${i}`;
  const variant = i % 3 === 0 ? "nano-fp32" : "nano-ternary";
  return {
    request: {
      requestId,
      createdAt,
      endpoint: "/v1/chat/completions",
      tenantId: `tenant-${i % 10}`,
      keyId: `key-${i % 10}`,
      tier: "standard",
      model: "nano",
      variant,
      variantVersion: "1",
      status: 200,
      stream: i % 2 === 0,
      tokensIn: 20 + (i % 40),
      tokensOut: 30 + (i % 100),
      queueMs: i % 3,
      ttftMs: 8 + (i % 7),
      totalMs: 60 + (i % 40),
      cpuMs: 55,
      energyJ: 0.61,
      cost: 0.0000123,
      price: 0.00042,
      counterfactualCost: 0.0000611,
      cacheHit: false,
      degraded: false,
      errorCode: null,
    },
    decision: {
      decisionId: `dec-${i}`,
      requestId,
      strategy: "sla",
      qualityNeed: 0.6,
      sla: { ttftMs: 500, totalMs: 4000 },
      load: { "nano-ternary": { running: i % 4, waiting: 0 }, "nano-fp32": { running: 1, waiting: 0 } },
      candidates: [candidate("nano-ternary", "bitnet", 0.93, i), candidate("nano-fp32", "onnx", 1, i)],
      chosen: variant,
      reason: "cheapest_feasible",
      fallbackChain: [variant],
      degraded: false,
    },
  };
}

interface Sustained {
  readonly target: string;
  readonly method: WriteMethod;
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerS: number;
  /** request rows + decision rows */
  readonly rowsPerS: number;
  readonly enqueueNsPerCall: number;
  readonly flushes: number;
  readonly maxFlushMs: number;
  /** whether the flusher ran on its own thread */
  readonly flusherThread: boolean;
}

async function sustained(db: TestDatabase, target: string, method: WriteMethod, count: number): Promise<Sustained> {
  const createdAt = new Date().toISOString();
  const list = Array.from({ length: count }, (_, i) => entry(i, createdAt));
  const recorder = await DatabaseRecorder.start({
    database: db.database,
    journalDir: join(db.dir, "journal"),
    method,
    batchRows: db.database.driver === "postgres" ? 5000 : undefined,
    concurrency: values.concurrency ? Number(values.concurrency) : undefined,
    queueCapacity: count + 1,
    flushIntervalMs: 50,
    // the flusher on a thread of its own under postgres.js (the recorder's default) unless --inline
    ...(values.inline ? { flusherThread: false } : {}),
  });
  let enqueueMs = 0;
  const started = performance.now();
  for (let i = 0; i < list.length; i += 1000) {
    const t0 = performance.now();
    for (const e of list.slice(i, i + 1000)) recorder.enqueue(e.request, e.decision);
    enqueueMs += performance.now() - t0;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await recorder.close();
  const seconds = (performance.now() - started) / 1000;
  const stats = recorder.stats();
  if (stats.written !== count || stats.spilled !== 0) throw new Error(`${target}: ${JSON.stringify(stats)}`);
  const [row] = await db.database.rows<{ n: number }>(sql`select count(*)::int as n from requests`);
  if (row?.n !== count) throw new Error(`${target}: ${row?.n} rows in requests, ${count} enqueued`);
  return {
    target,
    method,
    requests: count,
    seconds: round(seconds),
    requestsPerS: Math.round(count / seconds),
    rowsPerS: Math.round((2 * count) / seconds),
    enqueueNsPerCall: Math.round((enqueueMs * 1e6) / count),
    flushes: stats.flushes,
    maxFlushMs: round(stats.maxFlushMs),
    flusherThread: stats.flusherThread,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

interface Retention {
  readonly rows: number;
  /** the day's partition, all its rows in */
  readonly sizeBeforeMb: number;
  readonly deleteSeconds: number;
  readonly deleteSizeAfterMb: number;
  readonly dropSeconds: number;
  readonly dropSizeAfterMb: number;
}

/** One day of `rows` requests, then that day removed by batched DELETE, and (refilled) by DROP PARTITION. */
async function retention(db: TestDatabase, rows: number): Promise<Retention> {
  const orm = db.database.orm;
  const fill = async () => {
    await orm.execute(
      sql.raw(`CREATE TABLE IF NOT EXISTS requests_p20260101 PARTITION OF requests
      FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-01-02 00:00:00+00')`),
    );
    await orm.execute(
      sql.raw(`INSERT INTO requests (request_id, created_at, endpoint, tenant_id, key_id, tier, model,
        variant, status, stream, tokens_in, tokens_out, total_ms, cache_hit, degraded)
      SELECT 'old-' || g, timestamptz '2026-01-01 00:00:00+00' + (g % 86400) * interval '1 second',
        '/v1/chat/completions', 'tenant-' || (g % 10), 'key', 'standard', 'nano', 'nano-ternary', 200, false,
        20, 30, 60, false, false
      FROM generate_series(1, ${rows}) g`),
    );
  };
  const sizeMb = async () => {
    const [r] = await db.database.rows<{ bytes: string }>(
      sql`select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes from pg_class c
          where c.relname = 'requests_p20260101'`,
    );
    return round(Number(r?.bytes ?? 0) / 1048576);
  };
  await fill();
  const sizeBeforeMb = await sizeMb();
  let t0 = performance.now();
  for (;;) {
    const deleted = await db.database.rows<{ request_id: string }>(
      sql.raw(`DELETE FROM requests WHERE ctid IN
      (SELECT ctid FROM requests_p20260101 WHERE created_at < '2026-01-02' LIMIT 10000) RETURNING request_id`),
    );
    if (deleted.length === 0) break;
  }
  const deleteSeconds = (performance.now() - t0) / 1000;
  const deleteSizeAfterMb = await sizeMb();
  await orm.execute(sql.raw("DROP TABLE requests_p20260101"));
  await fill();
  t0 = performance.now();
  await orm.execute(sql.raw("DROP TABLE requests_p20260101"));
  const dropSeconds = (performance.now() - t0) / 1000;
  return {
    rows,
    sizeBeforeMb,
    deleteSeconds: round(deleteSeconds),
    deleteSizeAfterMb,
    dropSeconds: round(dropSeconds),
    dropSizeAfterMb: await sizeMb(),
  };
}

const results: Sustained[] = [];
let retained: Retention | undefined;
for (const [driver, method, count] of [
  ["pglite", "insert", pgliteRows],
  ["postgres", "insert", postgresRows],
  ["postgres", "copy", postgresRows],
] as const) {
  if (values.only && !values.only.split(",").includes(driver === "pglite" ? "pglite" : `${driver}-${method}`)) continue;
  const db = await testDatabase(driver);
  try {
    const r = await sustained(db, driver, method, count);
    results.push(r);
    console.log(
      `${driver.padEnd(8)} ${method.padEnd(6)} ${r.requests} requests in ${r.seconds} s: ${r.requestsPerS} requests/s, ` +
        `${r.rowsPerS} rows/s (request + decision); enqueue ${r.enqueueNsPerCall} ns a call; max flush ${r.maxFlushMs} ms; ` +
        `flusher ${r.flusherThread ? "on its own thread" : "on this thread"}`,
    );
    if (driver === "postgres" && method === "copy" && !quick && !values.only) {
      retained = await retention(db, 1_000_000);
      console.log(
        `retention of 1,000,000 rows (partition ${retained.sizeBeforeMb} MB): batched DELETE ${retained.deleteSeconds} s, ` +
          `${retained.deleteSizeAfterMb} MB left before vacuum; DROP PARTITION ${retained.dropSeconds} s, ${retained.dropSizeAfterMb} MB left`,
      );
    }
  } finally {
    await db.dispose();
  }
}

let latency: LatencyReport | undefined;
if (!values.only || values.only.split(",").includes("latency")) {
  latency = await recordingLatency({
    rate: 500,
    secondsPerMode: Number(values["latency-seconds"] ?? (quick ? 3 : 10)),
    rounds: Number(values["latency-rounds"] ?? (quick ? 3 : 10)),
    modes: values["latency-modes"]
      ? (values["latency-modes"].split(",") as LatencyMode[])
      : values["no-latency-pglite"]
        ? ["memory", "postgres"]
        : ["memory", "postgres", "pglite"],
  });
  for (const m of latency.modes) {
    const added = latency.addedMs[m.mode];
    console.log(
      `recording ${m.mode.padEnd(8)} at ${latency.rate}/s: p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms ` +
        `(rounds ${m.roundP99Ms.join(" / ")})${added ? `; adds p50 ${added.p50} ms, p99 ${added.p99} ms (median of rounds ${added.p99PairedMedian})` : ""}; ` +
        `CPU ${m.cpuUsPerRequest} µs a request; event-loop delay p99 ${m.loopDelayMs.p99RoundMedian} ms, max ${m.loopDelayMs.max} ms; ${m.responses} answers${m.rows === null ? "" : `, ${m.rows} rows`}, ${m.errors} errors`,
    );
    if (m.rows !== null && m.rows !== m.responses)
      throw new Error(`${m.mode}: ${m.rows} rows for ${m.responses} answers`);
  }
}

const report = {
  bench: "recorder",
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", memoryGb: Math.round(totalmem() / 2 ** 30) },
  postgres: POSTGRES_ADMIN_URL.replace(/\/\/[^@]*@/, "//"),
  loadAverage: { before: loadBefore, after: loadAverage() },
  sustained: results,
  retention: retained ?? null,
  recordingLatency: latency ?? null,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
else console.log(JSON.stringify(report, null, 2));
