/**
 * `writeBatch` by COPY against the ways a batch's rows can fail to arrive while the driver reports
 * success, on the local Postgres (a database per test). Each case counts a batch as written only once
 * its rows are in `requests`.
 */
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import type { RecordEntry } from "./entry.js";
import { isUnavailable } from "./flusher.js";
import { type Database, openDatabase } from "./open.js";
import { ensurePartitions, partitionName } from "./partitions.js";
import { entries, type TestDatabase, testDatabase } from "./testkit.js";
import { type WriteResult, writeBatch } from "./write.js";

const DAY = "2026-12-01";
const AT = `${DAY}T12:00:00.000Z`;

async function rowsOf(database: Database, batch: readonly RecordEntry[]): Promise<number> {
  const ids = batch.map((e) => `'${e.request.requestId}'`).join(", ");
  const [row] = await database.rows<{ n: number }>(
    sql.raw(`select count(*)::int as n from requests where request_id in (${ids})`),
  );
  return row?.n ?? -1;
}

/** `writeBatch` until it succeeds (each failure is one the flusher would seal and replay), at most `tries` times. */
async function writeUntilDone(database: Database, batch: readonly RecordEntry[], tries: number): Promise<WriteResult> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < tries; attempt++) {
    try {
      return await writeBatch(database, batch, "copy");
    } catch (e) {
      failures.push(String((e as { code?: unknown }).code ?? (e as Error).message));
    }
  }
  throw new Error(`not written in ${tries} tries: ${failures.join(", ")}`);
}

describe("writeBatch (COPY, postgres)", () => {
  let t: TestDatabase | undefined;
  let single: Database | undefined;
  afterEach(async () => {
    await single?.close().catch(() => undefined);
    single = undefined;
    await t?.dispose();
    t = undefined;
  });

  it("counts no row of a batch written on a connection whose previous COPY the server cut off after its CopyDone", async () => {
    t = await testDatabase("postgres");
    await ensurePartitions(t.database, [DAY]);
    // one connection, so the next batches run on the one the cut COPY left behind
    single = await openDatabase({
      url: t.url,
      stateDir: t.stateDir,
      migrate: false,
      maxConnections: 1,
      reconnectDelayMs: 100,
    });
    // the decisions' staging table of write.ts, made first on the pool's one session: its COPY ends its
    // own backend as the server does at shutdown, after the client's CopyDone, before CommandComplete
    // (57P01, then the connection closes); the reconnected session makes its own, without the trigger
    await t.database.orm.execute(
      sql.raw(`create function cut_copy() returns trigger language plpgsql as $$
        begin
          perform pg_terminate_backend(pg_backend_pid());
          perform pg_sleep(5);
          return null;
        end $$`),
    );
    const client = single.postgres as NonNullable<Database["postgres"]>;
    await client.unsafe(`create temp table recorder_decisions_staged (like routing_decisions) on commit delete rows`);
    await client.unsafe(
      `create trigger cut_copy after insert on recorder_decisions_staged for each statement execute function cut_copy()`,
    );
    const cut = entries(300, AT, 0);
    const next = entries(300, AT, 1000);

    await expect(writeBatch(single, cut, "copy")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    // the first try after the cut may fail (postgres.js hands the cut session's 57P01 to the first query
    // of the reconnected one, porsager/postgres#1223); the flusher retries it, as here
    const result = await writeUntilDone(single, next, 5);

    expect({ result, rows: await rowsOf(t.database, next) }).toEqual({
      result: { inserted: next.length, duplicates: 0 },
      rows: next.length,
    });
    expect(await rowsOf(t.database, cut)).toBe(0);
  }, 30_000);

  /** The outcome of one `writeBatch`: what it reported, or whether its failure is one the flusher replays. */
  async function outcome(database: Database, batch: readonly RecordEntry[]) {
    try {
      return { result: await writeBatch(database, batch, "copy") };
    } catch (e) {
      return { failed: isUnavailable(e) ? "unavailable" : "refused" };
    }
  }

  /** Rows whose request id ends in 3 never arrive: the trigger drops them as they are inserted. */
  const DROP_SOME = `create function drop_some() returns trigger language plpgsql as $$
    begin
      if right(new.request_id, 1) = '3' then return null; end if;
      return new;
    end $$`;

  it.each([
    "recorder_requests_staged (like requests, sla_missed boolean)",
    "recorder_decisions_staged (like routing_decisions)",
  ])("fails for replay, not as duplicates, a batch whose staging came up short: %s", async (staging) => {
    t = await testDatabase("postgres");
    await ensurePartitions(t.database, [DAY]);
    await t.database.orm.execute(sql.raw(DROP_SOME));
    single = await openDatabase({ url: t.url, stateDir: t.stateDir, migrate: false, maxConnections: 1 });
    // a staging table of write.ts, made first on the pool's one session, with rows going missing on their way in
    const client = single.postgres as NonNullable<Database["postgres"]>;
    await client.unsafe(`create temp table ${staging} on commit delete rows`);
    await client.unsafe(
      `create trigger drop_some before insert on ${staging.split(" ")[0]} for each row execute function drop_some()`,
    );
    const batch = entries(100, AT);

    expect(await outcome(single, batch)).toEqual({ failed: "unavailable" });
    expect(await rowsOf(t.database, batch)).toBe(0);
  });

  it.each(["requests", "routing_decisions"] as const)(
    "fails for replay a batch whose rows the insert skipped though they were not there: %s",
    async (table) => {
      t = await testDatabase("postgres");
      await ensurePartitions(t.database, [DAY]);
      await t.database.orm.execute(sql.raw(DROP_SOME));
      await t.database.orm.execute(
        sql.raw(
          `create trigger drop_some before insert on "${partitionName(table, DAY)}" for each row execute function drop_some()`,
        ),
      );
      const batch = entries(100, AT);

      expect(await outcome(t.database, batch)).toEqual({ failed: "unavailable" });
      expect(await rowsOf(t.database, batch)).toBe(0);
    },
  );

  /** `outcome`, or "still pending" if it has not settled after `ms` (a hang, not a slow write: the batch is 200 rows). */
  async function settledWithin(database: Database, batch: readonly RecordEntry[], ms: number) {
    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<{ pending: true }>((resolve) => {
      timer = setTimeout(() => resolve({ pending: true }), ms);
    });
    try {
      return await Promise.race([outcome(database, batch), pending]);
    } finally {
      clearTimeout(timer);
    }
  }

  it("settles, for replay, a batch whose decisions the server refuses only after their data ended", async () => {
    t = await testDatabase("postgres");
    await ensurePartitions(t.database, [DAY]);
    // an AFTER ROW trigger runs at the end of its statement: for a COPY, after the client's CopyDone,
    // which is where a partition dropped or missing between the requests and the decisions failed it
    await t.database.orm.execute(
      sql.raw(`create function partition_gone() returns trigger language plpgsql as $$
        begin raise exception 'partition gone'; end $$;
        create trigger partition_gone after insert on "${partitionName("routing_decisions", DAY)}"
          for each row execute function partition_gone();`),
    );
    const batch = entries(200, AT);

    expect(await settledWithin(t.database, batch, 10_000)).toEqual({ failed: "unavailable" });
    expect(await rowsOf(t.database, batch)).toBe(0);
    // and the pool is not left holding a reserved connection: the next batch is written
    await t.database.orm.execute(
      sql.raw(`drop trigger partition_gone on "${partitionName("routing_decisions", DAY)}"`),
    );
    expect(await settledWithin(t.database, batch, 10_000)).toEqual({ result: { inserted: 200, duplicates: 0 } });
  }, 30_000);

  /** Entries whose sixth is changed by `change` (cast: the journal hands back whatever JSON it parsed). */
  function withSixth(change: (entry: { request: Record<string, unknown>; decision: Record<string, unknown> }) => void) {
    const batch = entries(50, AT);
    change(batch[5] as unknown as Parameters<typeof change>[0]);
    return batch;
  }

  it.each([
    ["a NUL in a text column", withSixth((e) => Object.assign(e.request, { model: "na\u0000no" }))],
    ["a NUL in a json value", withSixth((e) => Object.assign(e.decision, { candidates: [{ variant: "a\u0000b" }] }))],
  ])(
    "refuses before any COPY, so it settles, a batch with %s",
    async (_, batch) => {
      t = await testDatabase("postgres");
      await ensurePartitions(t.database, [DAY]);

      expect(await settledWithin(t.database, batch, 10_000)).toEqual({ failed: "refused" });
      expect(await rowsOf(t.database, batch)).toBe(0);
    },
    30_000,
  );

  it("writes a json column's string as a JSON string, and a backslash before u0000 as itself", async () => {
    t = await testDatabase("postgres");
    await ensurePartitions(t.database, [DAY]);
    const batch = withSixth((e) => Object.assign(e.decision, { sla: "60 ms", fallbackChain: ["a\\u0000b"] }));

    expect(await settledWithin(t.database, batch, 10_000)).toEqual({ result: { inserted: 50, duplicates: 0 } });
    const [row] = await t.database.rows<{ sla: unknown; chain: unknown }>(
      sql.raw(
        `select sla, fallback_chain as chain from routing_decisions where request_id = '${batch[5]?.request.requestId}'`,
      ),
    );
    expect(row).toEqual({ sla: "60 ms", chain: ["a\\u0000b"] });
  }, 30_000);

  it("counts rows already there as duplicates and writes the rest", async () => {
    t = await testDatabase("postgres");
    await ensurePartitions(t.database, [DAY]);
    const first = entries(60, AT);
    const batch = entries(100, AT);
    expect(await outcome(t.database, first)).toEqual({ result: { inserted: 60, duplicates: 0 } });

    expect(await outcome(t.database, batch)).toEqual({ result: { inserted: 40, duplicates: 60 } });
    expect(await rowsOf(t.database, batch)).toBe(100);
  });
});
