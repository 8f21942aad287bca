/**
 * Writing one batch of entries, idempotently: requests and decisions are inserted with ON CONFLICT DO
 * NOTHING on their key, and daily_usage is upserted, in the same statement as the requests, from the
 * rows that INSERT returned (`rollup.ts`). So writing the same entries twice (a journal replay after a
 * batch whose commit was not acknowledged) adds nothing the second time, and no statement that runs
 * on its own — whatever a dropped connection leaves behind — can count a request without inserting it.
 *
 * Two ways in: multi-row INSERTs, one statement for all three tables per chunk (both drivers), or, on
 * postgres.js, COPY of the requests and of their decisions into session temp tables, then one
 * INSERT ... SELECT statement for the requests, the new requests' decisions and their rollup, in one
 * transaction that stops when its connection is lost (`transaction.ts`; COPY itself has no ON
 * CONFLICT). Either way a request and its decision are written together or not at all, and the temp
 * tables belong to the connection's session: a statement left to run on a reconnected session would
 * find nothing staged. So the INSERT ... SELECT also counts what it saw, and a batch whose staging
 * holds other than the rows sent, or that skipped a row not already there, fails for replay instead of
 * counting them as duplicates.
 *
 * No COPY goes into a table that can refuse its rows once their data has ended (see `copyLinesInto`):
 * the request log's partitions, its constraints and any trigger on it are met only by the
 * INSERT ... SELECT, whose error fails the statement, and the batch, as any error does.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Column, getTableColumns, getTableName, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { TransactionSql } from "postgres";
import type { RecordEntry } from "./entry.js";
import type { Database } from "./open.js";
import { MISSED_BY_DECISION, missedSla, usageCte } from "./rollup.js";
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
      sql`with dec as ${dec}, ins as ${ins}, ${sql.raw(usageCte("dec", MISSED_BY_DECISION))} select ${sql.identifier(REQUEST_ID)} from ins`,
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

/** Postgres' error codes for what `checkedForCopy` catches. */
const NOT_NULL_VIOLATION = "23502";
const INVALID_TEXT_REPRESENTATION = "22P02";
const CHARACTER_NOT_IN_REPERTOIRE = "22021";
const UNTRANSLATABLE_CHARACTER = "22P05";

/** JSON text's escape of U+0000 (after an even run of backslashes, so not a literal `\u0000`): jsonb refuses it. */
const JSON_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

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
 * Refuses, before COPY starts, a value the server would refuse mid-COPY, and returns what to encode
 * (a json column's JSON text, as drizzle sends it on the INSERT path: a string too is a JSON string).
 * postgres.js does not surface an error the server raises once the client has sent its CopyDone, which
 * it sends as soon as the last line is written, before the server has read them all (the
 * transaction then waits forever: see `copyLinesInto`), so the checks the server would make on these
 * columns are made here, with the server's error codes: the flusher then isolates and rejects the row.
 */
function checkedForCopy(table: string, col: CopyColumn, value: unknown): unknown {
  if (value === null || value === undefined) {
    if (col.notNull) refuse(table, col, NOT_NULL_VIOLATION, "null in a NOT NULL column");
    return value;
  }
  switch (col.kind) {
    case "integer":
    case "smallint": {
      const limit = col.kind === "integer" ? 2_147_483_647 : 32_767;
      if (typeof value !== "number" || !Number.isInteger(value) || Math.abs(value) > limit)
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not of type ${col.kind}`);
      return value;
    }
    case "number":
      if (typeof value !== "number")
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a number`);
      return value;
    case "boolean":
      if (typeof value !== "boolean")
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a boolean`);
      return value;
    case "timestamp":
      if (typeof value !== "string" || Number.isNaN(Date.parse(value)))
        refuse(table, col, INVALID_TEXT_REPRESENTATION, `${String(value)} is not a timestamp`);
      return value;
    case "json": {
      const json = JSON.stringify(value);
      if (JSON_NUL.test(json)) refuse(table, col, UNTRANSLATABLE_CHARACTER, "\\u0000 in a json value");
      return json;
    }
    default:
      if (typeof value === "string" && value.includes("\u0000"))
        refuse(table, col, CHARACTER_NOT_IN_REPERTOIRE, "a NUL character in text");
      return value;
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
      const checked = checkedForCopy(name, col, value);
      if (c > 0) line += "\t";
      line += copyText(checked);
    }
    lines.push(`${line}\n`);
  }
  return lines;
}

/**
 * COPY into one of the session's staging tables only. postgres.js 3.4.9 resolves a COPY with its
 * stream at CopyInResponse and detaches the stream when it sends CopyDone; an ErrorResponse after
 * that (instead of CommandComplete) goes to the query's already-settled promise and nowhere else: the
 * stream's final callback is never called and this `pipeline` never settles (porsager/postgres#1173).
 * The driver gives no signal to race it against, and a timeout would cut a slow but healthy COPY. So
 * a COPY only goes where nothing can refuse a row after its data ended: a temp table without
 * partitions, keys, checks or triggers, whose every type and NOT NULL check `checkedForCopy` makes
 * first. What is left is the server itself failing the statement then (out of disk, a cancel, a
 * `statement_timeout` set on the database), which no check here can foresee; a lost connection
 * rejects `begin`, and `transaction.ts` parks the callback.
 */
async function copyLinesInto(tx: TransactionSql, target: string, columnList: string, lines: readonly string[]) {
  const writable = await tx.unsafe(`COPY "${target}" (${columnList}) FROM STDIN`).writable();
  await pipeline(Readable.from(chunked(lines)), writable);
}

/**
 * COPY the requests (with their decisions' SLAs) and the decisions into session temp tables, then one
 * statement: the new requests (ON CONFLICT DO NOTHING ... RETURNING), the decisions of those it
 * inserted (a new request's decision is new too) and the daily_usage upsert over them.
 */
async function copyRows(database: Database, batch: readonly RecordEntry[]): Promise<Set<string>> {
  const client = database.postgres;
  if (!client) throw new Error("COPY needs the postgres.js driver (DATABASE_URL)");
  // one entry per request (a replay meeting its live copy brings one twice): the rollup joins them 1:1
  const entries = uniqueEntries(batch);
  // encoded (and checked) before any COPY starts; one decision per request, however often a batch holds it
  // each request's line ends with whether it missed its SLA: the rollup's only need of its decision
  const requestLines = (
    await copyLines(
      REQUESTS,
      copyColumns(requests),
      entries.map((e) => e.request),
    )
  ).map((line, n) => `${line.slice(0, -1)}\t${missedSla(entries[n] as RecordEntry) ? "t" : "f"}\n`);
  const decisions = decisionsOf(entries);
  const decisionLines = await copyLines(DECISIONS, copyColumns(routingDecisions), decisions);
  return transaction(client, async (tx, open) => {
    const requestColumns = columnList(requests);
    const decisionColumns = columnList(routingDecisions);
    await stage(
      tx,
      open,
      STAGED_REQUESTS,
      `(LIKE "${REQUESTS}", "${SLA_MISSED}" boolean)`,
      `${requestColumns}, "${SLA_MISSED}"`,
      requestLines,
    );
    await stage(tx, open, STAGED_DECISIONS, `(LIKE "${DECISIONS}")`, decisionColumns, decisionLines);
    await open();
    const result = await tx.unsafe(
      `with ins as (insert into "${REQUESTS}" (${requestColumns}) select ${requestColumns} from "${STAGED_REQUESTS}" ` +
        `on conflict do nothing returning *), ` +
        `dec as (insert into "${DECISIONS}" (${decisionColumns}) select ${decisionColumns} from "${STAGED_DECISIONS}" ` +
        `where "${REQUEST_ID}" in (select "${REQUEST_ID}" from ins) returning 1), ` +
        `${usageCte(`"${STAGED_REQUESTS}"`, `d."${SLA_MISSED}"`)}, ` +
        `counted as (select (select count(*) from "${STAGED_REQUESTS}")::int as staged, (select count(*) from ins)::int as inserted, ` +
        `(select count(*) from "${STAGED_DECISIONS}")::int as staged_decisions, (select count(*) from dec)::int as decisions) ` +
        `select "${REQUEST_ID}", null::int as staged, null::int as present, null::int as staged_decisions, null::int as decisions from ins union all ` +
        `select null, staged, case when inserted < staged then (${PRESENT}) end, staged_decisions, decisions from counted`,
    );
    const ids = new Set<string>();
    let counts: StagedCounts = { staged: 0, present: null, stagedDecisions: 0, decisions: 0 };
    for (const row of result) {
      const r = row as Record<string, unknown>;
      if (r[REQUEST_ID] === null)
        counts = {
          staged: Number(r.staged),
          present: r.present === null ? null : Number(r.present),
          stagedDecisions: Number(r.staged_decisions),
          decisions: Number(r.decisions),
        };
      else ids.add(String(r[REQUEST_ID]));
    }
    const newDecisions = decisions.filter((d) => ids.has(d.requestId)).length;
    checkStaged({ requests: entries.length, decisions: decisions.length }, ids.size, newDecisions, counts);
    return ids;
  });
}

/** the staged requests: `requests`' columns and whether each missed its SLA (`missedSla`, from its decision) */
const STAGED_REQUESTS = "recorder_requests_staged";
const SLA_MISSED = "sla_missed";
/** the staged decisions: `routing_decisions`' columns, and none of its partitions, key or triggers */
const STAGED_DECISIONS = "recorder_decisions_staged";

/**
 * Staged requests already in `requests` as the statement began: the only rows it may skip as duplicates.
 * (One committed by another session since then is skipped and not counted here: that batch fails and
 * its replay counts it as present.)
 */
const PRESENT =
  `select count(*)::int from "${STAGED_REQUESTS}" s join "${REQUESTS}" r on ` +
  [requests.requestId, requests.createdAt].map((c) => `r."${c.name}" = s."${c.name}"`).join(" and ");

/**
 * What the INSERT ... SELECT saw: the requests staged, of those already there (counted only when it
 * skipped some), the decisions staged and the decisions it inserted.
 */
interface StagedCounts {
  readonly staged: number;
  readonly present: number | null;
  readonly stagedDecisions: number;
  readonly decisions: number;
}

/**
 * A batch counts as written only when the statement saw every row it sent (requests and decisions),
 * inserted each request not already there and the decision of each it inserted. Anything else means
 * the rows did not arrive where the driver said they did (a COPY cut short, a transaction another
 * statement ended: see `transaction.ts`), and the batch fails as the
 * database being unavailable (an error with no SQLSTATE, `isUnavailable`): its segment is sealed and
 * replayed, instead of its missing rows being counted as duplicates and discarded.
 */
function checkStaged(
  sent: { readonly requests: number; readonly decisions: number },
  inserted: number,
  newDecisions: number,
  { staged, present, stagedDecisions, decisions }: StagedCounts,
): void {
  const skipped = sent.requests - inserted;
  if (
    staged === sent.requests &&
    (skipped === 0 || present === skipped) &&
    stagedDecisions === sent.decisions &&
    decisions === newDecisions
  )
    return;
  throw new Error(
    `COPY batch not as sent: ${sent.requests} requests sent, ${staged} staged, ${inserted} inserted, ` +
      `${present ?? 0} already there; ${sent.decisions} decisions sent, ${stagedDecisions} staged, ` +
      `${decisions} inserted of ${newDecisions} new; failed for replay`,
  );
}

/** One entry per request (by its key, request id and `created_at`). */
function uniqueEntries(entries: readonly RecordEntry[]): RecordEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const key = `${e.request.requestId}\u0000${e.request.createdAt}`;
    return !seen.has(key) && seen.add(key);
  });
}

const columnList = (table: PgTable) =>
  copyColumns(table)
    .map((c) => `"${c.name}"`)
    .join(", ");

/** COPY lines into a temporary table of the session (made on first use, emptied at commit). */
async function stage(
  tx: TransactionSql,
  open: () => Promise<void>,
  staging: string,
  shape: string,
  columns: string,
  lines: readonly string[],
): Promise<void> {
  await open();
  await tx.unsafe(`CREATE TEMP TABLE IF NOT EXISTS "${staging}" ${shape} ON COMMIT DELETE ROWS`);
  await open();
  if (lines.length > 0) await copyLinesInto(tx, staging, columns, lines);
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
