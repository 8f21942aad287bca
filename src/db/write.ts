/**
 * Writing one batch of entries, idempotently and atomically: requests and decisions are inserted with
 * ON CONFLICT DO NOTHING on their key, and daily_usage is upserted from the requests that insert
 * actually added, all in one transaction, so writing the same entries twice (a journal replay after a
 * batch whose commit was not acknowledged) adds nothing the second time.
 *
 * Two ways in: a multi-row INSERT (both drivers) or COPY into a temporary table followed by
 * INSERT ... SELECT (postgres.js only; COPY itself has no ON CONFLICT).
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Column, getTableColumns, getTableName, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { TransactionSql } from "postgres";
import type { RecordEntry } from "./entry.js";
import type { Database, Orm } from "./open.js";
import { type DailyUsageInsert, rollUp } from "./rollup.js";
import { dailyUsage, type RoutingDecisionInsert, requests, routingDecisions } from "./schema.js";

export type WriteMethod = "insert" | "copy";

export interface WriteResult {
  /** requests newly inserted */
  readonly inserted: number;
  /** requests already there (a replay) */
  readonly duplicates: number;
}

/** Rows per INSERT statement: Postgres takes at most 65,535 parameters and `requests` has 26 columns. */
const INSERT_CHUNK = 1000;

export async function writeBatch(
  database: Database,
  entries: readonly RecordEntry[],
  method: WriteMethod = "insert",
): Promise<WriteResult> {
  if (entries.length === 0) return { inserted: 0, duplicates: 0 };
  const decisions = decisionsOf(entries);
  let insertedIds: ReadonlySet<string>;
  if (method === "copy") {
    const client = database.postgres;
    if (!client) throw new Error("COPY needs the postgres.js driver (DATABASE_URL)");
    insertedIds = await client.begin(async (tx) => {
      const ids = await copyInsert(
        tx,
        requests,
        entries.map((e) => e.request),
        "request_id",
      );
      await copyInsert(tx, routingDecisions, decisions, null);
      const inserted = entries.filter((e) => ids.has(e.request.requestId));
      const upsert = upsertUsage(database.orm, rollUp(unique(inserted)));
      if (upsert) {
        const q = upsert.toSQL();
        await tx.unsafe(q.sql, q.params as never[]);
      }
      return ids;
    });
  } else {
    insertedIds = await database.orm.transaction(async (tx) => {
      const ids = new Set<string>();
      for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
        const chunk = entries.slice(i, i + INSERT_CHUNK).map((e) => e.request);
        const rows = await tx
          .insert(requests)
          .values(chunk)
          .onConflictDoNothing()
          .returning({ requestId: requests.requestId });
        for (const r of rows) ids.add(r.requestId);
      }
      for (let i = 0; i < decisions.length; i += INSERT_CHUNK)
        await tx
          .insert(routingDecisions)
          .values(decisions.slice(i, i + INSERT_CHUNK))
          .onConflictDoNothing();
      const inserted = entries.filter((e) => ids.has(e.request.requestId));
      await upsertUsage(tx, rollUp(unique(inserted)));
      return ids;
    });
  }
  return { inserted: insertedIds.size, duplicates: entries.length - insertedIds.size };
}

/** The decision rows, each dated with its request's `created_at` so both share a partition. */
function decisionsOf(entries: readonly RecordEntry[]): RoutingDecisionInsert[] {
  const out: RoutingDecisionInsert[] = [];
  for (const e of entries)
    if (e.decision) out.push(e.decision.createdAt ? e.decision : { ...e.decision, createdAt: e.request.createdAt });
  return out;
}

/** One entry per request id: the same request twice in a batch (a replay meeting its live copy) counts once. */
function unique(entries: readonly RecordEntry[]): RecordEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.request.requestId) && seen.add(e.request.requestId));
}

const added = (column: Column): SQL => sql`${column} + excluded.${sql.identifier(column.name)}`;

function upsertUsage(orm: Orm, rows: readonly DailyUsageInsert[]) {
  if (rows.length === 0) return undefined;
  const c = dailyUsage;
  return orm
    .insert(dailyUsage)
    .values([...rows])
    .onConflictDoUpdate({
      target: [c.day, c.tenantId, c.variant],
      set: {
        requests: added(c.requests),
        errors: added(c.errors),
        slaMisses: added(c.slaMisses),
        degraded: added(c.degraded),
        escalated: added(c.escalated),
        cacheHits: added(c.cacheHits),
        tokensIn: added(c.tokensIn),
        tokensOut: added(c.tokensOut),
        totalMs: added(c.totalMs),
        cpuMs: added(c.cpuMs),
        energyJ: added(c.energyJ),
        cost: added(c.cost),
        price: added(c.price),
        counterfactualCost: added(c.counterfactualCost),
      },
    });
}

// ── COPY ───────────────────────────────────────────────────────────────────────────────────────────────

/** A value in COPY's text format: `\N` for null, backslash escapes for the four special characters. */
function copyText(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  if (typeof value === "boolean") return value ? "t" : "f";
  if (typeof value === "number") return String(value);
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return s.replace(/[\\\n\r\t]/g, (ch) => (ch === "\\" ? "\\\\" : ch === "\n" ? "\\n" : ch === "\r" ? "\\r" : "\\t"));
}

/** Postgres' error codes for what `refuseBeforeCopy` catches. */
const NOT_NULL_VIOLATION = "23502";
const INVALID_TEXT_REPRESENTATION = "22P02";

/**
 * Refuses, before COPY starts, a value the server would refuse mid-COPY: postgres.js does not surface
 * an error raised while the COPY stream is open (the transaction then waits forever), so the checks
 * the server would make on these columns are made here, with the server's error codes.
 */
function refuseBeforeCopy(table: string, col: Column, value: unknown): void {
  const fail = (code: string, what: string) => {
    throw Object.assign(new Error(`${table}.${col.name}: ${what}`), { code });
  };
  if (value === null || value === undefined) {
    if (col.notNull) fail(NOT_NULL_VIOLATION, "null in a NOT NULL column");
    return;
  }
  const type = col.getSQLType();
  if (type === "integer" || type === "smallint") {
    const limit = type === "integer" ? 2_147_483_647 : 32_767;
    if (typeof value !== "number" || !Number.isInteger(value) || Math.abs(value) > limit)
      fail(INVALID_TEXT_REPRESENTATION, `${String(value)} is not of type ${type}`);
  } else if (type === "double precision" && typeof value !== "number") {
    fail(INVALID_TEXT_REPRESENTATION, `${String(value)} is not a number`);
  } else if (type === "boolean" && typeof value !== "boolean") {
    fail(INVALID_TEXT_REPRESENTATION, `${String(value)} is not a boolean`);
  } else if (type.startsWith("timestamp") && (typeof value !== "string" || Number.isNaN(Date.parse(value)))) {
    fail(INVALID_TEXT_REPRESENTATION, `${String(value)} is not a timestamp`);
  }
}

/**
 * COPY rows into a temporary twin of `table`, then INSERT ... SELECT ... ON CONFLICT DO NOTHING.
 * Returns the values of `returning` of the rows actually inserted (empty when `returning` is null).
 */
async function copyInsert<T extends PgTable>(
  tx: TransactionSql,
  table: T,
  rows: readonly Record<string, unknown>[],
  returning: string | null,
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const name = getTableName(table);
  const staging = `recorder_${name}_in`;
  const columns = Object.entries(getTableColumns(table)) as [string, Column][];
  const columnList = columns.map(([, col]) => `"${col.name}"`).join(", ");
  await tx.unsafe(`CREATE TEMP TABLE IF NOT EXISTS "${staging}" (LIKE "${name}") ON COMMIT DELETE ROWS`);
  const lines: string[] = [];
  for (const row of rows) {
    const cells: string[] = [];
    for (const [key, col] of columns) {
      let value = row[key];
      if (value === undefined && col.default !== undefined) value = col.default;
      refuseBeforeCopy(name, col, value);
      if (value !== null && value !== undefined && col.dataType === "json") value = JSON.stringify(value);
      cells.push(copyText(value));
    }
    lines.push(`${cells.join("\t")}\n`);
  }
  const writable = await tx.unsafe(`COPY "${staging}" (${columnList}) FROM STDIN`).writable();
  await pipeline(Readable.from(chunked(lines)), writable);
  const ret = returning ? ` RETURNING "${returning}"` : "";
  const result = await tx.unsafe(
    `INSERT INTO "${name}" (${columnList}) SELECT ${columnList} FROM "${staging}" ON CONFLICT DO NOTHING${ret}`,
  );
  const ids = new Set<string>();
  if (returning) for (const r of result) ids.add(String((r as Record<string, unknown>)[returning]));
  return ids;
}

/** Lines joined into ~64 KiB strings: one stream write per line would cost more than the COPY. */
function* chunked(lines: readonly string[]): Generator<string> {
  let buffer = "";
  for (const line of lines) {
    buffer += line;
    if (buffer.length >= 65_536) {
      yield buffer;
      buffer = "";
    }
  }
  if (buffer !== "") yield buffer;
}
