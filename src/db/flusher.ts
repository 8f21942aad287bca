/**
 * The recorder's flusher: everything between a closed journal segment and a committed transaction.
 * It is handed segments (the rows a gateway enqueued, already on disk) and writes them in batches,
 * each in one idempotent transaction (`write.ts`); a segment is deleted once all its rows are
 * committed. When the database is unreachable or a batch fails, the segment is fsync'd and sealed for
 * replay, which runs as soon as the database answers again. Rows the database refuses for their
 * content are isolated by halving the batch, so one bad row costs only itself. It also makes the day
 * partitions ahead and drops expired ones.
 *
 * The same class runs on the gateway's thread (PGlite, whose one instance lives there) or alone on a
 * worker thread with its own postgres.js pool (`flusher-worker.ts`), where its encoding, the driver's
 * work and its retries cannot hold up a request.
 */
import { performance } from "node:perf_hooks";
import type { RecordEntry } from "./entry.js";
import { dayOf } from "./entry.js";
import { type Journal, parseLines } from "./journal.js";
import type { Database } from "./open.js";
import { dropExpiredPartitions, ensurePartitions, utcDay } from "./partitions.js";
import { type WriteMethod, writeBatch } from "./write.js";

/**
 * What the flusher is handed: a closed segment (`wal-<n>.ndjson`), whose rows it reads back from the
 * page cache, or, for rows the disk refused, their journal lines themselves.
 */
export type Handed =
  | { readonly segment: string; readonly rows: number }
  | { readonly lines: string; readonly rows: number };

export interface FlusherSettings {
  readonly batchRows: number;
  readonly method: WriteMethod;
  readonly concurrency: number;
  readonly retentionDays: number;
  readonly partitionsAheadDays: number;
  readonly maintenanceIntervalMs: number;
  readonly retryMs: number;
}

export interface FlusherOptions extends FlusherSettings {
  readonly database: Database;
  /** the flusher's journal: replays sealed files, appends spills, never writes segments itself */
  readonly journal: Journal;
  readonly now: () => number;
  readonly onError: (error: Error, context: string) => void;
  /** told after each batch and cycle (the worker reports its figures from here) */
  readonly onProgress?: () => void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The flusher's own figures; the recorder adds what happens on the gateway's side. */
export interface FlusherStats {
  readonly written: number;
  readonly duplicates: number;
  readonly spilled: number;
  readonly replayed: number;
  readonly rejected: number;
  readonly lost: number;
  readonly flushes: number;
  readonly failedFlushes: number;
  readonly lastFlushMs: number;
  readonly maxFlushMs: number;
  readonly databaseAvailable: boolean;
  /** handed rows the flusher is done with (committed, rejected, sealed for replay, or lost) */
  readonly settled: number;
}

/** The figures of a flusher that has done nothing yet. */
export const NO_FLUSHES: Omit<FlusherStats, "databaseAvailable"> = {
  written: 0,
  duplicates: 0,
  spilled: 0,
  replayed: 0,
  rejected: 0,
  lost: 0,
  flushes: 0,
  failedFlushes: 0,
  lastFlushMs: 0,
  maxFlushMs: 0,
  settled: 0,
};

/** Errors that say the database could not be reached or used now, as opposed to refusing these rows. */
export function isUnavailable(error: unknown): boolean {
  // drizzle wraps the driver's error ("Failed query: ...") and keeps it as the cause
  const cause = (error as { cause?: unknown }).cause;
  const driverError = cause instanceof Error ? cause : error;
  const code = (driverError as { code?: unknown }).code;
  const message = (driverError as { message?: unknown }).message;
  // a missing partition (dropped by another replica, or a day not yet made): make it and retry
  if (typeof message === "string" && message.includes("no partition of relation")) return true;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true; // network, closed pool, timeout
  const sqlClass = code.slice(0, 2);
  // data exceptions, integrity violations, syntax/undefined (but a missing table is an unmigrated database)
  if (sqlClass === "22" || sqlClass === "23") return false;
  if (sqlClass === "42") return code === "42P01";
  return true;
}

/** Tries after a 57P01 (`write`): one per connection that may hold a stale one, for the default pool of 4. */
const TERMINATED_RETRIES = 4;

/** The server ended the connection (shutdown, `pg_terminate_backend`): SQLSTATE 57P01, admin_shutdown. */
function isTerminated(error: unknown): boolean {
  const cause = (error as { cause?: unknown }).cause;
  const driverError = cause instanceof Error ? cause : error;
  return (driverError as { code?: unknown }).code === "57P01";
}

export class Flusher {
  private readonly database: Database;
  private readonly journal: Journal;
  private readonly settings: FlusherSettings;
  private readonly now: () => number;
  private readonly onError: (error: Error, context: string) => void;
  private readonly onProgress: () => void;

  private pending: Handed[] = [];
  private pendingRows = 0;
  private readonly knownDays = new Set<string>();
  private running: Promise<void> | undefined;
  private available = true;
  private retryAt = 0;
  private lastMaintenance = 0;
  private spills: Promise<unknown> = Promise.resolve();

  private counts: Mutable<Omit<FlusherStats, "databaseAvailable">> = { ...NO_FLUSHES };

  constructor(options: FlusherOptions) {
    this.database = options.database;
    this.journal = options.journal;
    this.settings = options;
    this.now = options.now;
    this.onError = options.onError;
    this.onProgress = options.onProgress ?? (() => undefined);
  }

  /** Takes over a closed segment: from now on the flusher deletes it (committed) or seals it (not). */
  hand(item: Handed): void {
    this.pending.push(item);
    this.pendingRows += item.rows;
  }

  /** Handed rows the flusher is done with (committed, rejected, sealed for replay, or lost). */
  get settledRows(): number {
    return this.counts.settled;
  }

  stats(): FlusherStats {
    return { ...this.counts, databaseAvailable: this.available };
  }

  /** A cycle now, and another straight after while full batches are waiting. */
  kick(): void {
    this.runCycle().then(
      () => {
        if (this.pendingRows >= this.settings.batchRows) this.kick();
      },
      (e: Error) => this.onError(e, "flush cycle"),
    );
  }

  /** One cycle at a time; a call while one runs waits for it. */
  runCycle(): Promise<void> {
    this.running ??= this.cycle().finally(() => {
      this.running = undefined;
      this.onProgress();
    });
    return this.running;
  }

  /** Writes (or journals) everything handed so far and replays the journal when the database is there. */
  async flush(): Promise<void> {
    await this.settle();
    await this.spills;
  }

  /** Drains: every handed row to the database, else the journal; then what spilled meanwhile, if it can. */
  async drain(): Promise<void> {
    await this.settle();
    await this.spills;
    if (this.available && this.journal.hasPending()) await this.settle();
    await this.spills;
  }

  /** Cycles until nothing handed is waiting and none runs (a cycle running when called may predate the latest hand-over, and a kick may start another as one ends). */
  private async settle(): Promise<void> {
    do await this.runCycle();
    while (this.running !== undefined || this.pending.length > 0);
  }

  /** Partitions for today and the days ahead; drops those past retention. */
  async maintain(): Promise<{ readonly dropped: readonly string[] }> {
    const now = this.now();
    const days: string[] = [];
    for (let d = 0; d <= this.settings.partitionsAheadDays; d++) days.push(utcDay(now, d));
    await ensurePartitions(this.database, days);
    for (const d of days) this.knownDays.add(d);
    const dropped = await dropExpiredPartitions(this.database, this.settings.retentionDays, now);
    for (const name of dropped) {
      const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (m) this.knownDays.delete(`${m[1]}-${m[2]}-${m[3]}`);
    }
    this.lastMaintenance = now;
    return { dropped };
  }

  private async cycle(): Promise<void> {
    if (!this.available && this.now() < this.retryAt) {
      // still down: the handed rows are in their segments; seal them for replay
      this.sealPending("database unavailable");
      return;
    }
    const { maintenanceIntervalMs, batchRows, concurrency } = this.settings;
    if (this.now() - this.lastMaintenance >= maintenanceIntervalMs || this.lastMaintenance === 0) {
      try {
        await this.maintain();
      } catch (e) {
        this.failed(e, "partition maintenance");
        this.sealPending("database unavailable");
        return;
      }
    }
    if (this.journal.hasPending() && !(await this.replay())) {
      this.sealPending("database unavailable");
      return;
    }
    const taken = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    if (taken.length === 0) return;
    const rows: RecordEntry[] = [];
    for (const item of taken) for (const e of await this.entriesOf(item)) rows.push(e);
    const batches: RecordEntry[][] = [];
    for (let i = 0; i < rows.length; i += batchRows) batches.push(rows.slice(i, i + batchRows));
    let failure: unknown;
    for (let i = 0; i < batches.length && failure === undefined; i += concurrency) {
      // up to `concurrency` batches at once: one is encoded while Postgres commits another
      const outcomes = await Promise.allSettled(
        batches.slice(i, i + concurrency).map(async (batch) => {
          const started = performance.now();
          await this.write(batch);
          this.flushed(performance.now() - started);
        }),
      );
      for (const outcome of outcomes)
        if (outcome.status === "rejected") {
          failure ??= outcome.reason;
          this.counts.failedFlushes += 1;
        }
    }
    if (failure === undefined) {
      for (const item of taken) {
        if ("segment" in item) await this.journal.discard(item.segment);
        this.counts.settled += item.rows;
      }
      return;
    }
    this.failed(failure, "flush");
    // the whole of each segment is replayed later, the batches that did commit included: the replay skips those
    for (const item of taken) this.sealItem(item, "flush failed");
    this.sealPending("database unavailable");
  }

  /** The rows of a handed item: read back from its segment (the page cache), or parsed from its lines. */
  private async entriesOf(item: Handed): Promise<readonly RecordEntry[]> {
    if ("lines" in item) return parseLines(item.lines).entries;
    try {
      return (await this.journal.read(item.segment)).entries;
    } catch (e) {
      this.counts.lost += item.rows;
      this.onError(e as Error, `journal segment unreadable (${item.rows} rows lost)`);
      return [];
    }
  }

  /** Seals every handed segment not yet taken by a cycle. */
  private sealPending(reason: string): void {
    const items = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    for (const item of items) this.sealItem(item, reason);
  }

  /** A handed item that could not be written: its segment sealed for replay (rows in memory only: appended). */
  private sealItem(item: Handed, reason: string): void {
    this.counts.spilled += item.rows;
    this.counts.settled += item.rows;
    if ("segment" in item) {
      const sealed = this.journal
        .sealSegment(item.segment)
        .catch((e: Error) => this.onError(e, `journal seal (${reason})`));
      this.spills = Promise.all([this.spills, sealed]).then(() => undefined); // no nesting of the results
      return;
    }
    this.spill(parseLines(item.lines).entries, reason);
  }

  private flushed(ms: number): void {
    this.available = true;
    this.counts.flushes += 1;
    this.counts.lastFlushMs = ms;
    this.counts.maxFlushMs = Math.max(this.counts.maxFlushMs, ms);
    this.onProgress();
  }

  /** Marks the database down and reports; returns false. */
  private failed(error: unknown, context: string): false {
    this.available = false;
    this.retryAt = this.now() + this.settings.retryMs;
    this.knownDays.clear();
    this.onError(error instanceof Error ? error : new Error(String(error)), context);
    return false;
  }

  /** Writes the journal's sealed files; true when nothing is left in it. */
  private async replay(): Promise<boolean> {
    let files: string[];
    try {
      files = await this.journal.seal();
    } catch (e) {
      this.onError(e as Error, "journal seal");
      return false;
    }
    const { batchRows } = this.settings;
    for (const file of files) {
      const { entries, torn } = await this.journal.read(file);
      if (torn > 0) this.onError(new Error(`${torn} torn line(s) in ${file} (a crash mid-append)`), "journal replay");
      try {
        for (let i = 0; i < entries.length; i += batchRows) {
          const started = performance.now();
          await this.write(entries.slice(i, i + batchRows));
          this.flushed(performance.now() - started);
        }
      } catch (e) {
        this.counts.failedFlushes += 1;
        return this.failed(e, "journal replay");
      }
      await this.journal.remove(file);
      this.counts.replayed += entries.length;
    }
    return true;
  }

  /**
   * `writeOnce`, again at once while it fails with the server's "terminating connection" (57P01), a
   * few times. After a restart postgres.js hands the error that ended a connection (mid-COPY, say) to
   * the first query that connection runs once reconnected, so the first writes can fail though the
   * server is back: without this, a `close` shortly after a restart gave up its drain on that stale
   * error. The writes are idempotent; a server really going down fails the next try another way.
   */
  private async write(batch: readonly RecordEntry[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.writeOnce(batch);
      } catch (e) {
        if (attempt >= TERMINATED_RETRIES || !isTerminated(e)) throw e;
      }
    }
  }

  /** One batch into the database; rows refused for their content are isolated and rejected. */
  private async writeOnce(batch: readonly RecordEntry[]): Promise<void> {
    const days = new Set<string>();
    for (const e of batch) {
      days.add(dayOf(e.request.createdAt));
      // a decision given a date of its own may fall on another day: its partition is needed too, or the
      // batch would fail as unavailable (a missing partition) on every retry and replay
      if (e.decision?.createdAt) days.add(dayOf(e.decision.createdAt));
    }
    const missing = [...days].filter((d) => !this.knownDays.has(d));
    if (missing.length > 0) {
      await ensurePartitions(this.database, missing);
      for (const d of missing) this.knownDays.add(d);
    }
    try {
      const result = await writeBatch(this.database, batch, this.settings.method);
      this.counts.written += result.inserted;
      this.counts.duplicates += result.duplicates;
    } catch (e) {
      if (isUnavailable(e)) throw e;
      if (batch.length === 1) {
        this.counts.rejected += 1;
        const reason = e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e);
        this.onError(new Error(`row ${batch[0]?.request.requestId} rejected: ${reason}`), "row rejected");
        await this.journal.reject(batch, reason);
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.write(batch.slice(0, half));
      await this.write(batch.slice(half));
    }
  }

  /** Rows only in memory, appended (fsync'd) to the journal for replay. */
  spill(entries: readonly RecordEntry[], reason: string): void {
    if (entries.length === 0) return;
    const written = this.journal.append(entries).catch((e: Error) => {
      this.counts.lost += entries.length;
      this.onError(e, `journal append (${reason})`);
    });
    this.spills = Promise.all([this.spills, written]).then(() => undefined); // no nesting of the results
  }
}
