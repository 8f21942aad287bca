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
  let insertedIds: ReadonlySet<string>;
  if (method === "copy") {
    const client = database.postgres;
    if (!client) throw new Error("COPY needs the postgres.js driver (DATABASE_URL)");
    insertedIds = await client.begin(async (tx) => {
      const ids = await copyInsert(
        tx,
        requests,
        entries.map((e) => e.request),
      );
      const inserted = unique(entries.filter((e) => ids.has(e.request.requestId)));
      // a decision is only ever written in the transaction that inserts its request, so the
      // decisions of requests new in this one are new too: they go straight in, no staging, no conflict
      const routed = inserted.filter((e) => e.decision !== null);
      await copyInto(
        tx,
        routingDecisions,
        routed.map((e) => e.decision as RoutingDecisionInsert),
        routed.map((e) => e.request.createdAt),
      );
      const upsert = upsertUsage(database.orm, rollUp(inserted));
      if (upsert) {
        const q = upsert.toSQL();
        await tx.unsafe(q.sql, q.params as never[]);
      }
      return ids;
    });
  } else {
    const decisions = decisionsOf(entries);
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
  if (!SPECIAL.test(s)) return s;
  return s.replace(SPECIALS, (ch) => (ch === "\\" ? "\\\\" : ch === "\n" ? "\\n" : ch === "\r" ? "\\r" : "\\t"));
}
const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;

/** Postgres' error codes for what `refuseBeforeCopy` catches. */
const NOT_NULL_VIOLATION = "23502";
const INVALID_TEXT_REPRESENTATION = "22P02";

type Kind = "integer" | "smallint" | "number" | "boolean" | "timestamp" | "json" | "text";

/** What COPY needs to know of a column, worked out once per table. */
interface CopyColumn {
  readonly key: string;
  readonly name: string;
  readonly kind: Kind;
  readonly notNull: boolean;
  readonly fallback: unknown;
}

const plans = new WeakMap<PgTable, readonly CopyColumn[]>();

function copyColumns(table: PgTable): readonly CopyColumn[] {
  let plan = plans.get(table);
  if (!plan) {
    plan = (Object.entries(getTableColumns(table)) as [string, Column][]).map(([key, col]) => {
      const type = col.getSQLType();
      const kind: Kind =
        type === "integer" || type === "smallint"
          ? type
          : type === "double precision"
            ? "number"
            : type === "boolean"
              ? "boolean"
              : type.startsWith("timestamp")
                ? "timestamp"
                : col.dataType === "json"
                  ? "json"
                  : "text";
      return { key, name: col.name, kind, notNull: col.notNull, fallback: col.default };
    });
    plans.set(table, plan);
  }
  return plan;
}

/**
 * Refuses, before COPY starts, a value the server would refuse mid-COPY: postgres.js does not surface
 * an error raised while the COPY stream is open (the transaction then waits forever), so the checks
 * the server would make on these columns are made here, with the server's error codes.
 */
function refuseBeforeCopy(table: string, col: CopyColumn, value: unknown): void {
  if (value === null || value === undefined) {
    if (col.notNull) refuse(table, col, NOT_NULL_VIOLATION, "null in a NOT NULL column");
    return;
  }
  switch (col.kind) {
    case "integer":
    case "smallint": {
      const limit = col.kind === "integer" ? 2_147_483_647 : 32_767;
      if (typeof value !== "number" || !Number.isInteger(value) || Math.abs(value) > limit)
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not of type ${col.kind}`);
      return;
    }
    case "number":
      if (typeof value !== "number")
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a number`);
      return;
    case "boolean":
      if (typeof value !== "boolean")
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a boolean`);
      return;
    case "timestamp":
      if (typeof value !== "string" || Number.isNaN(Date.parse(value)))
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a timestamp`);
      return;
    default:
      return;
  }
}

function refuse(table: string, col: CopyColumn, code: string, what: string): never {
  throw Object.assign(new Error(`${table}.${col.name}: ${what}`), { code });
}

/** Rows encoded between two turns of the event loop: a big batch must not hold up the requests being served. */
const ROWS_PER_TURN = 500;

/**
 * COPY's text-format lines for these rows, yielding to the event loop every ROWS_PER_TURN rows.
 * `createdAt[r]` stands in for row r's missing `createdAt` (a decision takes its request's).
 */
async function copyLines(
  name: string,
  columns: readonly CopyColumn[],
  rows: readonly Record<string, unknown>[],
  createdAt?: readonly string[],
): Promise<string[]> {
  const lines: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    if (r > 0 && r % ROWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const row = rows[r] as Record<string, unknown>;
    let line = "";
    for (let c = 0; c < columns.length; c++) {
      const col = columns[c] as CopyColumn;
      let value = row[col.key];
      if (value === undefined) value = col.key === "createdAt" && createdAt ? createdAt[r] : col.fallback;
      refuseBeforeCopy(name, col, value);
      if (c > 0) line += "\t";
      line += copyText(value);
    }
    lines.push(`${line}\n`);
  }
  return lines;
}

async function copyLinesInto(tx: TransactionSql, target: string, columnList: string, lines: readonly string[]) {
  const writable = await tx.unsafe(`COPY "${target}" (${columnList}) FROM STDIN`).writable();
  await pipeline(Readable.from(chunked(lines)), writable);
}

/** COPY rows straight into `table` (rows known to be new). */
async function copyInto<T extends PgTable>(
  tx: TransactionSql,
  table: T,
  rows: readonly Record<string, unknown>[],
  createdAt?: readonly string[],
) {
  if (rows.length === 0) return;
  const name = getTableName(table);
  const columns = copyColumns(table);
  const lines = await copyLines(name, columns, rows, createdAt);
  await copyLinesInto(tx, name, columns.map((c) => `"${c.name}"`).join(", "), lines);
}

/**
 * COPY rows into a temporary twin of `table`, then INSERT ... SELECT ... ON CONFLICT DO NOTHING
 * RETURNING request_id: the ids of the rows actually inserted.
 */
async function copyInsert<T extends PgTable>(
  tx: TransactionSql,
  table: T,
  rows: readonly Record<string, unknown>[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const name = getTableName(table);
  const staging = `recorder_${name}_in`;
  const columns = copyColumns(table);
  const columnList = columns.map((c) => `"${c.name}"`).join(", ");
  // encoded (and checked) before the COPY starts
  const lines = await copyLines(name, columns, rows);
  await tx.unsafe(`CREATE TEMP TABLE IF NOT EXISTS "${staging}" (LIKE "${name}") ON COMMIT DELETE ROWS`);
  await copyLinesInto(tx, staging, columnList, lines);
  const result = await tx.unsafe(
    `INSERT INTO "${name}" (${columnList}) SELECT ${columnList} FROM "${staging}" ON CONFLICT DO NOTHING RETURNING "request_id"`,
  );
  const ids = new Set<string>();
  for (const r of result) ids.add(String((r as Record<string, unknown>).request_id));
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
