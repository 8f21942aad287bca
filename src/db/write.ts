/**
 * Writing one batch of entries, idempotently: requests and decisions are inserted with ON CONFLICT DO
 * NOTHING on their key, and daily_usage is upserted, in the same statement as the requests, from the
 * rows that INSERT returned (`rollup.ts`). So writing the same entries twice (a journal replay after a
 * batch whose commit was not acknowledged) adds nothing the second time, and no statement that runs
 * on its own — whatever a dropped connection leaves behind — can count a request without inserting it.
 *
 * Two ways in: multi-row INSERTs, one statement for all three tables per chunk (both drivers), or COPY
 * into temporary tables followed by one INSERT ... SELECT statement for all three (postgres.js only;
 * COPY itself has no ON CONFLICT). Either way a request and its decision are written together or not at all. The temporary tables belong to the
 * connection's session, so a statement a broken transaction leaves to run on a reconnected session
 * finds no staged rows.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Column, getTableColumns, getTableName, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { TransactionSql } from "postgres";
import type { RecordEntry } from "./entry.js";
import type { Database } from "./open.js";
import { usageCte } from "./rollup.js";
import { type RoutingDecisionInsert, requests, routingDecisions } from "./schema.js";
import { transaction } from "./transaction.js";

export type WriteMethod = "insert" | "copy";

export interface WriteResult {
  /** requests newly inserted */
  readonly inserted: number;
  /** requests already there (a replay) */
  readonly duplicates: number;
}

/**
 * Entries per statement: Postgres takes at most 65,535 parameters, and an entry is a request (26
 * columns) and its decision (12).
 */
const INSERT_CHUNK = 1000;

const REQUESTS = getTableName(requests);
const DECISIONS = getTableName(routingDecisions);
const REQUEST_ID = requests.requestId.name;
const CREATED_AT = requests.createdAt.name;

export async function writeBatch(
  database: Database,
  entries: readonly RecordEntry[],
  method: WriteMethod = "insert",
): Promise<WriteResult> {
  if (entries.length === 0) return { inserted: 0, duplicates: 0 };
  const ids = method === "copy" ? await copyRows(database, entries) : await insertRows(database, entries);
  return { inserted: ids.size, duplicates: entries.length - ids.size };
}

/**
 * Per chunk one statement: its decisions, its requests and the daily_usage upsert over the requests that
 * INSERT returned (their SLA from the decisions inserted beside them: a new request's decision is new too).
 */
async function insertRows(database: Database, entries: readonly RecordEntry[]): Promise<Set<string>> {
  const { orm } = database;
  const ids = new Set<string>();
  for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
    const chunk = entries.slice(i, i + INSERT_CHUNK);
    const decisions = decisionsOf(chunk);
    const dec =
      decisions.length > 0
        ? sql`${orm.insert(routingDecisions).values(decisions).onConflictDoNothing().returning()}`
        : sql.raw(`(select * from "${DECISIONS}" where false)`);
    const ins = orm
      .insert(requests)
      .values(chunk.map((e) => e.request))
      .onConflictDoNothing()
      .returning();
    const rows = await database.rows<Record<string, string>>(
      sql`with dec as ${dec}, ins as ${ins}, ${sql.raw(usageCte("dec"))} select ${sql.identifier(REQUEST_ID)} from ins`,
    );
    for (const row of rows) ids.add(String(row[REQUEST_ID]));
  }
  return ids;
}

/** The decision rows, each dated with its request's `created_at` so both share a partition. */
function decisionsOf(entries: readonly RecordEntry[]): RoutingDecisionInsert[] {
  const out: RoutingDecisionInsert[] = [];
  for (const e of entries)
    if (e.decision) out.push(e.decision.createdAt ? e.decision : { ...e.decision, createdAt: e.request.createdAt });
  return out;
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
 */
async function copyLines(
  name: string,
  columns: readonly CopyColumn[],
  rows: readonly Record<string, unknown>[],
): Promise<string[]> {
  const lines: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    if (r > 0 && r % ROWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const row = rows[r] as Record<string, unknown>;
    let line = "";
    for (let c = 0; c < columns.length; c++) {
      const col = columns[c] as CopyColumn;
      let value = row[col.key];
      if (value === undefined) value = col.fallback;
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

/**
 * COPY both tables' rows into temporary twins, then one statement: the new requests (ON CONFLICT DO
 * NOTHING ... RETURNING), their decisions (one each, however often a batch holds it) and the
 * daily_usage upsert over them.
 */
async function copyRows(database: Database, entries: readonly RecordEntry[]): Promise<Set<string>> {
  const client = database.postgres;
  if (!client) throw new Error("COPY needs the postgres.js driver (DATABASE_URL)");
  // encoded (and checked) before any COPY starts
  const requestLines = await copyLines(
    REQUESTS,
    copyColumns(requests),
    entries.map((e) => e.request),
  );
  const decisionLines = await copyLines(DECISIONS, copyColumns(routingDecisions), decisionsOf(entries));
  return transaction(client, async (tx, open) => {
    const stagedRequests = await stage(tx, open, requests, requestLines);
    const stagedDecisions = await stage(tx, open, routingDecisions, decisionLines);
    const requestColumns = columnList(requests);
    const decisionColumns = columnList(routingDecisions);
    const key = `"${REQUEST_ID}", "${CREATED_AT}"`;
    await open();
    const result = await tx.unsafe(
      `with decisions as (select distinct on (${key}) * from "${stagedDecisions}"), ` +
        `ins as (insert into "${REQUESTS}" (${requestColumns}) select ${requestColumns} from "${stagedRequests}" ` +
        `on conflict do nothing returning *), ` +
        `dec as (insert into "${DECISIONS}" (${decisionColumns}) select ${prefixed("d", routingDecisions)} ` +
        `from decisions d join ins i on d."${REQUEST_ID}" = i."${REQUEST_ID}" and d."${CREATED_AT}" = i."${CREATED_AT}"), ` +
        `${usageCte("decisions")} select "${REQUEST_ID}" from ins`,
    );
    const ids = new Set<string>();
    for (const row of result) ids.add(String((row as Record<string, unknown>)[REQUEST_ID]));
    return ids;
  });
}

const columnList = (table: PgTable) =>
  copyColumns(table)
    .map((c) => `"${c.name}"`)
    .join(", ");
const prefixed = (alias: string, table: PgTable) =>
  copyColumns(table)
    .map((c) => `${alias}."${c.name}"`)
    .join(", ");

/** COPY lines into the session's temporary twin of `table` (emptied at commit); returns its name. */
async function stage(tx: TransactionSql, open: () => void, table: PgTable, lines: readonly string[]): Promise<string> {
  const name = getTableName(table);
  const staging = `recorder_${name}_in`;
  await open();
  await tx.unsafe(`CREATE TEMP TABLE IF NOT EXISTS "${staging}" (LIKE "${name}") ON COMMIT DELETE ROWS`);
  await open();
  if (lines.length > 0) await copyLinesInto(tx, staging, columnList(table), lines);
  return staging;
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
