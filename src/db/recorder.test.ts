import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import type { DecisionRecorder } from "../server/recorder.js";
import type { RecordEntry } from "./entry.js";
import { Journal } from "./journal.js";
import { ensurePartitions, listPartitions } from "./partitions.js";
import { DatabaseRecorder, type RecorderOptions } from "./recorder.js";
import { entries, entryAt, type TestDatabase, testDatabase } from "./testkit.js";
import { type WriteMethod, writeBatch } from "./write.js";

interface Totals {
  requests: number;
  distinct: number;
  decisions: number;
  usageRequests: number;
  usageTokensOut: number;
  usageSlaMisses: number;
}

async function totals(t: TestDatabase): Promise<Totals> {
  const [row] = await t.database.rows<Record<string, number>>(sql`select
    (select count(*)::int from requests) as requests,
    (select count(distinct request_id)::int from requests) as distinct,
    (select count(*)::int from routing_decisions) as decisions,
    (select coalesce(sum(requests), 0)::int from daily_usage) as "usageRequests",
    (select coalesce(sum(tokens_out), 0)::int from daily_usage) as "usageTokensOut",
    (select coalesce(sum(sla_misses), 0)::int from daily_usage) as "usageSlaMisses"`);
  return row as unknown as Totals;
}

function expected(list: readonly RecordEntry[]): Totals {
  const misses = list.filter(
    (e) =>
      e.decision !== null &&
      ((e.request.ttftMs ?? 0) > e.decision.sla.ttftMs || e.request.totalMs > e.decision.sla.totalMs),
  ).length;
  return {
    requests: list.length,
    distinct: list.length,
    decisions: list.filter((e) => e.decision !== null).length,
    usageRequests: list.length,
    usageTokensOut: list.reduce((s, e) => s + e.request.tokensOut, 0),
    usageSlaMisses: misses,
  };
}

const cases: readonly { driver: "pglite" | "postgres"; method: WriteMethod }[] = [
  { driver: "pglite", method: "insert" },
  { driver: "postgres", method: "insert" },
  { driver: "postgres", method: "copy" },
];

describe.each(cases)("DatabaseRecorder on $driver ($method)", ({ driver, method }) => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  const start = (db: TestDatabase, extra: Partial<RecorderOptions> = {}) =>
    DatabaseRecorder.start({
      database: db.database,
      journalDir: join(db.dir, "journal"),
      method,
      flushIntervalMs: 20,
      batchRows: 500,
      now: () => Date.parse("2026-12-01T12:00:00Z"),
      ...extra,
    });

  it("is the server's DecisionRecorder and writes every enqueued row exactly once, with its rollup", async () => {
    t = await testDatabase(driver);
    const recorder: DecisionRecorder & DatabaseRecorder = await start(t);
    const list = [...entries(1500), ...entries(300, "2026-12-02T00:00:00.000Z")];
    for (const e of list) recorder.enqueue(e.request, e.decision);
    expect(recorder.stats().queueDepth).toBeGreaterThan(0); // enqueue wrote nothing itself
    await recorder.close();
    expect(await totals(t)).toEqual(expected(list));
    const stats = recorder.stats();
    expect(stats).toMatchObject({ queueDepth: 0, written: list.length, duplicates: 0, spilled: 0, rejected: 0 });
    // under postgres.js the flusher runs on a thread of its own unless told not to; PGlite's on this one
    expect(stats.flusherThread).toBe(driver !== "pglite");
    // a decision lands in its request's day partition
    const [d] = await t.database.rows<{ n: number }>(sql`select count(*)::int as n from routing_decisions_p20261202`);
    expect(d?.n).toBe(expected(entries(300, "2026-12-02T00:00:00.000Z")).decisions);
  });

  it("replays rows whose first write did commit without doubling a row or a rollup", async () => {
    t = await testDatabase(driver);
    const list = entries(800);
    // the batch committed but its acknowledgement was lost: the recorder journalled it anyway
    await ensurePartitions(t.database, ["2026-12-01"]);
    await writeBatch(t.database, list.slice(0, 500), method);
    const journal = new Journal(join(t.dir, "journal"));
    await journal.append(list);
    await journal.close();
    const recorder = await start(t);
    await recorder.close();
    expect(await totals(t)).toEqual(expected(list));
    expect(recorder.stats()).toMatchObject({ replayed: 800, written: 300, duplicates: 500, journalPending: false });
  });

  it("replays at start a journal a crash left, torn last line included", async () => {
    t = await testDatabase(driver);
    const list = entries(400);
    const dir = join(t.dir, "journal");
    await mkdir(dir, { recursive: true });
    const lines = list.map((e) => JSON.stringify(e)).join("\n");
    writeFileSync(join(dir, "active.ndjson"), `${lines}\n{"request":{"requestId":"torn`);
    const errors: string[] = [];
    const recorder = await start(t, { onError: (e) => errors.push(e.message) });
    // start itself replayed it, before any flush
    expect(await totals(t)).toEqual(expected(list));
    expect(errors.some((m) => m.includes("torn"))).toBe(true);
    await recorder.close();
    expect(readdirSync(dir).filter((n) => n !== "rejected.ndjson")).toEqual([]);
  });

  it("journals while the database is unreachable and replays when it answers again", async () => {
    t = await testDatabase(driver);
    const list = entries(600);
    // the same database, closed under the recorder: every write fails as unreachable
    const { database } = t;
    let down = true;
    const flaky = {
      ...database,
      orm: new Proxy(database.orm, {
        get(target, p, receiver) {
          if (down && (p === "transaction" || p === "execute"))
            return () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
          return Reflect.get(target, p, receiver);
        },
      }),
      postgres: database.postgres
        ? new Proxy(database.postgres, {
            get(target, p, receiver) {
              if (down && p === "begin")
                return () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
              return Reflect.get(target, p, receiver);
            },
          })
        : undefined,
    };
    let clock = Date.parse("2026-12-01T12:00:00Z");
    const recorder = await start(t, { database: flaky, now: () => clock, retryMs: 1000 });
    for (const e of list.slice(0, 300)) recorder.enqueue(e.request, e.decision);
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ databaseAvailable: false, journalPending: true, written: 0 });
    expect(recorder.stats().spilled).toBe(300);
    for (const e of list.slice(300)) recorder.enqueue(e.request, e.decision);
    down = false;
    clock += 1000;
    await recorder.close();
    expect(await totals(t)).toEqual(expected(list));
    expect(recorder.stats()).toMatchObject({ written: 600, duplicates: 0, journalPending: false });
  });

  it("spills a full queue to the journal instead of dropping, and writes it all once", async () => {
    t = await testDatabase(driver);
    const recorder = await start(t, { batchRows: 50, queueCapacity: 100, flushIntervalMs: 60_000 });
    const list = entries(2000);
    for (const e of list) recorder.enqueue(e.request, e.decision);
    expect(recorder.stats().queueDepth).toBeLessThanOrEqual(100);
    expect(recorder.stats().spilled).toBeGreaterThan(0);
    await recorder.close();
    expect(await totals(t)).toEqual(expected(list));
  });

  it("isolates a row the database refuses; the rest of its batch is written", async () => {
    t = await testDatabase(driver);
    const errors: string[] = [];
    const recorder = await start(t, { onError: (_e, context) => errors.push(context) });
    const list = entries(200);
    const bad = entryAt(10_000, "2026-12-01T12:00:00.000Z");
    const refused = { ...bad, request: { ...bad.request, tokensIn: 1.5 } };
    for (const e of [...list.slice(0, 100), refused, ...list.slice(100)]) recorder.enqueue(e.request, e.decision);
    await recorder.close();
    expect(await totals(t)).toEqual(expected(list));
    expect(recorder.stats().rejected).toBe(1);
    const rejected = readFileSync(join(t.dir, "journal", "rejected.ndjson"), "utf8")
      .trim()
      .split("\n");
    expect(rejected).toHaveLength(1);
    expect(JSON.parse(rejected[0] ?? "{}").request.requestId).toBe(refused.request.requestId);
    expect(errors).toContain("row rejected");
  });

  it("creates partitions ahead and drops the expired ones whole", async () => {
    t = await testDatabase(driver);
    const now = Date.parse("2026-12-01T12:00:00Z");
    const recorder = await start(t, { now: () => now, retentionDays: 30, partitionsAheadDays: 2 });
    const old = entries(50, "2026-10-20T08:00:00.000Z");
    const kept = entries(70, "2026-11-02T23:59:59.000Z");
    const today = entries(30, "2026-12-01T12:00:00.000Z");
    for (const e of [...old, ...kept, ...today]) recorder.enqueue(e.request, e.decision);
    await recorder.flush();
    expect((await totals(t)).requests).toBe(150);
    const { dropped } = await recorder.maintain();
    expect([...dropped].sort()).toEqual(["requests_p20261020", "routing_decisions_p20261020"]);
    const days = [...new Set((await listPartitions(t.database)).map((p) => p.day))];
    expect(days).toEqual(["2026-11-02", "2026-12-01", "2026-12-02", "2026-12-03"]);
    expect((await totals(t)).requests).toBe(100);
    await recorder.close();
  });

  it("writes a decision dated on another day than its request, making that day's partition too", async () => {
    t = await testDatabase(driver);
    const recorder = await start(t);
    const e = entryAt(1, "2026-12-01T11:00:00.000Z");
    // a day no maintenance makes (before today): only the flusher's own partition check can provide it
    const decision = { ...e.decision!, createdAt: "2026-11-20T23:59:59.999Z" };
    recorder.enqueue(e.request, decision);
    await recorder.close();
    expect(recorder.stats()).toMatchObject({ queueDepth: 0, written: 1, lost: 0, journalPending: false });
    const [d] = await t.database.rows<{ n: number }>(sql`select count(*)::int as n from routing_decisions_p20261120`);
    expect(d?.n).toBe(1);
  });
});

/** A gateway process killed with rows queued: the rows were in the journal's page cache, and come back. */
describe.each(["insert", "copy"] as const)("DatabaseRecorder after kill -9 (postgres, %s)", (method) => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it("replays at start every row a killed process had queued", async () => {
    t = await testDatabase("postgres");
    const journalDir = join(t.dir, "journal");
    const count = 1500;
    // the child queues rows it never flushes (interval and batch far beyond the test), then waits to be killed
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `
        const { openDatabase } = await import(${JSON.stringify(new URL("./open.ts", import.meta.url).pathname)});
        const { DatabaseRecorder } = await import(${JSON.stringify(new URL("./recorder.ts", import.meta.url).pathname)});
        const { entries } = await import(${JSON.stringify(new URL("./testkit.ts", import.meta.url).pathname)});
        const database = await openDatabase({ url: ${JSON.stringify(t.url)}, stateDir: "unused", migrate: false });
        const recorder = await DatabaseRecorder.start({ database, journalDir: ${JSON.stringify(journalDir)},
          method: ${JSON.stringify(method)}, flushIntervalMs: 600000, batchRows: 100000, queueCapacity: 100000 });
        for (const e of entries(${count})) recorder.enqueue(e.request, e.decision);
        // the turn that enqueued them has ended: they are in the journal's segment
        setImmediate(() => console.log("queued", recorder.stats().queueDepth));
        setInterval(() => undefined, 1000);
        `,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const queued = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("\n")) resolve(out.trim());
      });
      child.once("exit", (code) => reject(new Error(`child exited (${code}) before queueing: ${out}`)));
    });
    expect(queued).toBe(`queued ${count}`);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    expect((await totals(t)).requests).toBe(0);

    const recorder = await DatabaseRecorder.start({
      database: t.database,
      journalDir,
      method,
      now: () => Date.parse("2026-12-01T12:00:00Z"),
    });
    expect(await totals(t)).toEqual(expected(entries(count)));
    await recorder.close();
    expect(recorder.stats()).toMatchObject({ replayed: count, written: count, journalPending: false });
  });
});

describe("DatabaseRecorder's flusher thread (postgres)", () => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it("replaces a flusher thread that died with segments in hand: every row written once", async () => {
    t = await testDatabase("postgres");
    const errors: string[] = [];
    const recorder = await DatabaseRecorder.start({
      database: t.database,
      journalDir: join(t.dir, "journal"),
      batchRows: 200,
      flushIntervalMs: 20,
      flusherThread: true,
      now: () => Date.parse("2026-12-01T12:00:00Z"),
      onError: (_e, context) => errors.push(context),
    });
    const list = entries(1000);
    for (const e of list.slice(0, 600)) recorder.enqueue(e.request, e.decision);
    // the thread ends abruptly while it holds the segments just handed to it (reached through the
    // recorder's internals: nothing public kills it, which is the point)
    const thread = (recorder as unknown as { port: { worker: { terminate(): Promise<number> } } }).port;
    await thread.worker.terminate();
    for (const e of list.slice(600)) recorder.enqueue(e.request, e.decision);
    await until(() => (recorder.stats().databaseAvailable ? true : undefined));
    await recorder.close();
    expect(errors).toContain("flusher thread");
    expect(await totals(t)).toEqual(expected(list));
    expect(recorder.stats()).toMatchObject({ queueDepth: 0, lost: 0, journalPending: false });
  });
});

/** Polls until `probe` gives a value (the recorder's state changes on another thread's messages). */
async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("startRecording", () => {
  it("opens PGlite in the state directory, records, and drains on close; a second start sees the rows", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { startRecording } = await import("./recording.js");
    const stateDir = mkdtempSync(join(tmpdir(), "tg-recording-"));
    try {
      // the rows' day, so that retention keeps them whatever the date the test runs on
      const now = () => Date.parse("2026-12-01T12:00:00Z");
      const first = await startRecording({ url: "", stateDir, now });
      const list = entries(120);
      for (const e of list) first.recorder.enqueue(e.request, e.decision);
      await first.close();
      expect(first.recorder.stats().written).toBe(120);
      const second = await startRecording({ url: "", stateDir, now });
      const [row] = await second.database.rows<{ n: number }>(sql`select count(*)::int as n from requests`);
      expect(row?.n).toBe(120);
      await second.close();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
