/**
 * The database recorder: the server's `DecisionRecorder` backed by Postgres or PGlite.
 *
 * `enqueue` never awaits anything: it adds the row to the journal's current segment (one synchronous
 * write per event-loop turn into the page cache, so the row outlives this process being killed once
 * the turn that enqueued it ends) and queues it. A background
 * flusher (every `flushIntervalMs`, or as soon as `batchRows` are waiting) takes the queue together with
 * its segment and writes the rows in batches, each in one idempotent transaction (`write.ts`); once all
 * are committed the segment is deleted. When the database is unreachable or a batch fails, the segment
 * is fsync'd and kept for replay, which runs as soon as the database answers again; past
 * `queueCapacity` queued rows the queue is emptied the same way (its rows are on disk already) rather
 * than dropped. Segments left by a crashed or killed process are replayed by `start`; `close` drains.
 * Rows the database refuses for their content are isolated by halving the batch, so one bad row costs
 * only itself (it goes to the journal's rejected file), never its batch.
 */
import { performance } from "node:perf_hooks";
import type { RecordEntry } from "./entry.js";
import { dayOf } from "./entry.js";
import { Journal } from "./journal.js";
import type { Database } from "./open.js";
import { dropExpiredPartitions, ensurePartitions, utcDay } from "./partitions.js";
import type { RequestInsert, RoutingDecisionInsert } from "./schema.js";
import { type WriteMethod, writeBatch } from "./write.js";

export interface RecorderOptions {
  readonly database: Database;
  /** Where the journal lives (e.g. `<stateDir>/journal`). */
  readonly journalDir: string;
  /** Flush at least this often (default 200 ms). */
  readonly flushIntervalMs?: number;
  /**
   * Rows per batch; a full batch is flushed without waiting for the interval (default 2,000 under
   * postgres.js; 250 under PGlite, whose queries run on this thread and hold up the event loop meanwhile).
   */
  readonly batchRows?: number;
  /** Rows held in memory at most; beyond, the oldest spill to the journal (default 50,000). */
  readonly queueCapacity?: number;
  /** How batches are written (default: COPY under postgres.js, INSERT under PGlite). */
  readonly method?: WriteMethod;
  /** Batches written at once (default 2 under postgres.js, 1 under PGlite, which has one connection). */
  readonly concurrency?: number;
  /** Days of the request log kept: today and the days before it (default 30). */
  readonly retentionDays?: number;
  /** Day partitions created ahead of today (default 2). */
  readonly partitionsAheadDays?: number;
  /** How often partitions are created ahead and expired ones dropped (default hourly). */
  readonly maintenanceIntervalMs?: number;
  /** After a failure, how long before the database is tried again (default 1 s). */
  readonly retryMs?: number;
  /** The clock for partition days and retention (default `Date.now`). */
  readonly now?: () => number;
  /** Told about failures (the database unreachable, rows rejected, the journal unwritable). */
  readonly onError?: (error: Error, context: string) => void;
}

export interface RecorderStats {
  readonly queueDepth: number;
  readonly queueCapacity: number;
  /** requests newly written to the database */
  readonly written: number;
  /** requests that were already there (replays of rows whose first write did commit) */
  readonly duplicates: number;
  /** rows sent to the journal (database unavailable, batch failed, or queue full) */
  readonly spilled: number;
  /** rows written from the journal */
  readonly replayed: number;
  /** rows the database refused for their content; in the journal's rejected file */
  readonly rejected: number;
  /** rows lost because neither the database nor the journal's disk took them */
  readonly lost: number;
  readonly flushes: number;
  readonly failedFlushes: number;
  readonly lastFlushMs: number;
  readonly maxFlushMs: number;
  /** whether the last attempt reached the database */
  readonly databaseAvailable: boolean;
  readonly journalPending: boolean;
}

/** Errors that say the database could not be reached or used now, as opposed to refusing these rows. */
function isUnavailable(error: unknown): boolean {
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

export class DatabaseRecorder {
  private readonly database: Database;
  private readonly journal: Journal;
  private readonly flushIntervalMs: number;
  private readonly batchRows: number;
  private readonly queueCapacity: number;
  private readonly method: WriteMethod;
  private readonly concurrency: number;
  private readonly retentionDays: number;
  private readonly partitionsAheadDays: number;
  private readonly maintenanceIntervalMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private readonly onError: (error: Error, context: string) => void;

  private queue: RecordEntry[] = [];
  private readonly knownDays = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private kick = false;
  private closed = false;
  private available = true;
  private retryAt = 0;
  private lastMaintenance = 0;
  private spills: Promise<unknown> = Promise.resolve();

  private counts = {
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
  };

  private constructor(options: RecorderOptions) {
    this.database = options.database;
    // a segment the disk refused: those rows are only in memory now, and are written from there
    this.journal = new Journal(options.journalDir, (error, rows) =>
      this.onError(error, `journal write (${rows} rows only in memory)`),
    );
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.batchRows = Math.max(1, options.batchRows ?? (options.database.postgres ? 2000 : 250));
    this.queueCapacity = Math.max(this.batchRows, options.queueCapacity ?? 50_000);
    this.method = options.method ?? (options.database.postgres ? "copy" : "insert");
    this.concurrency = Math.max(1, options.concurrency ?? (options.database.postgres ? 2 : 1));
    this.retentionDays = options.retentionDays ?? 30;
    this.partitionsAheadDays = options.partitionsAheadDays ?? 2;
    this.maintenanceIntervalMs = options.maintenanceIntervalMs ?? 3_600_000;
    this.retryMs = options.retryMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => undefined);
  }

  /** Opens the journal, replays what a previous run left there, makes partitions ahead and starts flushing. */
  static async start(options: RecorderOptions): Promise<DatabaseRecorder> {
    const recorder = new DatabaseRecorder(options);
    await recorder.cycle();
    recorder.schedule();
    return recorder;
  }

  /**
   * The request path's only call: never awaits, never throws. The row is written to the journal's
   * current segment (the page cache: it survives this process being killed) and queued for the flusher.
   */
  enqueue(request: Readonly<RequestInsert>, decision: Readonly<RoutingDecisionInsert> | null): void {
    const entry: RecordEntry = { request, decision };
    if (this.closed) {
      this.spill([entry], "enqueue after close");
      return;
    }
    this.journal.write(entry);
    this.queue.push(entry);
    if (this.queue.length > this.queueCapacity) {
      // full: the queued rows are all in journal segments already, which become the backlog to replay
      this.counts.spilled += this.queue.length;
      this.queue = [];
      this.sealCurrent("queue full");
    }
    if (this.queue.length >= this.batchRows && !this.kick) {
      this.kick = true;
      setImmediate(() => {
        this.kick = false;
        if (!this.closed) void this.runCycle();
      });
    }
  }

  stats(): RecorderStats {
    return {
      ...this.counts,
      queueDepth: this.queue.length,
      queueCapacity: this.queueCapacity,
      databaseAvailable: this.available,
      journalPending: this.journal.hasPending(),
    };
  }

  /** Writes (or journals) everything enqueued so far and replays the journal when the database is there. */
  async flush(): Promise<void> {
    await this.runCycle();
    // a cycle already running when called may have started before the latest rows were enqueued
    if (this.queue.length > 0) await this.runCycle();
    await this.spills;
  }

  /** Partitions for today and the days ahead; drops those past retention. */
  async maintain(): Promise<{ readonly dropped: readonly string[] }> {
    const now = this.now();
    const days: string[] = [];
    for (let d = 0; d <= this.partitionsAheadDays; d++) days.push(utcDay(now, d));
    await ensurePartitions(this.database, days);
    for (const d of days) this.knownDays.add(d);
    const dropped = await dropExpiredPartitions(this.database, this.retentionDays, now);
    for (const name of dropped) {
      const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (m) this.knownDays.delete(`${m[1]}-${m[2]}-${m[3]}`);
    }
    this.lastMaintenance = now;
    return { dropped };
  }

  /** Stops the timer, drains the queue (to the database, else the journal) and closes the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.runCycle();
    while (this.queue.length > 0) await this.runCycle();
    await this.spills;
    // what spilled while draining goes in now if the database is there
    if (this.available && this.journal.hasPending()) await this.runCycle();
    await this.spills;
    await this.journal.close();
  }

  // ── the flusher ───────────────────────────────────────────────────────────────────────────────────────

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.runCycle().finally(() => this.schedule());
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** One cycle at a time; a call while one runs waits for it. */
  private runCycle(): Promise<void> {
    this.running ??= this.cycle().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async cycle(): Promise<void> {
    if (!this.available && this.now() < this.retryAt) {
      // still down: the queued rows are in the journal's segment; seal it for replay and free the memory
      this.dropQueueToJournal("database unavailable");
      return;
    }
    if (this.now() - this.lastMaintenance >= this.maintenanceIntervalMs || this.lastMaintenance === 0) {
      try {
        await this.maintain();
      } catch (e) {
        this.failed(e, "partition maintenance");
        this.dropQueueToJournal("database unavailable");
        return;
      }
    }
    if (this.journal.hasPending() && !(await this.replay())) {
      this.dropQueueToJournal("database unavailable");
      return;
    }
    // the queue and the segment hold the same rows: taken together, with nothing enqueued in between
    const segment = this.journal.rotate();
    const rows = this.queue;
    this.queue = [];
    const batches: RecordEntry[][] = [];
    for (let i = 0; i < rows.length; i += this.batchRows) batches.push(rows.slice(i, i + this.batchRows));
    let failure: unknown;
    for (let i = 0; i < batches.length && failure === undefined; i += this.concurrency) {
      // up to `concurrency` batches at once: one encodes here while Postgres commits another
      const outcomes = await Promise.allSettled(
        batches.slice(i, i + this.concurrency).map(async (batch) => {
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
      if (segment) await this.journal.discard(segment);
      return;
    }
    this.failed(failure, "flush");
    // the whole segment is replayed later, the batches that did commit included: the replay skips those
    this.counts.spilled += rows.length;
    if (segment) await this.sealSegment(segment, "flush failed");
    else this.spill(rows, "flush failed");
    this.dropQueueToJournal("database unavailable");
  }

  /** Seals the current segment, which holds exactly the queued rows, and empties the queue. */
  private dropQueueToJournal(reason: string): void {
    if (this.queue.length === 0) return;
    this.counts.spilled += this.queue.length;
    this.queue = [];
    this.sealCurrent(reason);
  }

  private sealCurrent(reason: string): void {
    const segment = this.journal.rotate();
    if (segment) this.spills = Promise.all([this.spills, this.sealSegment(segment, reason)]);
  }

  private async sealSegment(segment: string, reason: string): Promise<void> {
    try {
      await this.journal.sealSegment(segment);
    } catch (e) {
      this.onError(e as Error, `journal seal (${reason})`);
    }
  }

  private flushed(ms: number): void {
    this.available = true;
    this.counts.flushes += 1;
    this.counts.lastFlushMs = ms;
    this.counts.maxFlushMs = Math.max(this.counts.maxFlushMs, ms);
  }

  /** Marks the database down and reports; returns false. */
  private failed(error: unknown, context: string): false {
    this.available = false;
    this.retryAt = this.now() + this.retryMs;
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
    for (const file of files) {
      const { entries, torn } = await this.journal.read(file);
      if (torn > 0) this.onError(new Error(`${torn} torn line(s) in ${file} (a crash mid-append)`), "journal replay");
      try {
        for (let i = 0; i < entries.length; i += this.batchRows) {
          const started = performance.now();
          await this.write(entries.slice(i, i + this.batchRows));
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

  /** One batch into the database; rows refused for their content are isolated and rejected. */
  private async write(batch: readonly RecordEntry[]): Promise<void> {
    const days = new Set<string>();
    for (const e of batch) days.add(dayOf(e.request.createdAt));
    const missing = [...days].filter((d) => !this.knownDays.has(d));
    if (missing.length > 0) {
      await ensurePartitions(this.database, missing);
      for (const d of missing) this.knownDays.add(d);
    }
    try {
      const result = await writeBatch(this.database, batch, this.method);
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

  private spill(entries: RecordEntry[], reason: string): void {
    if (entries.length === 0) return;
    this.counts.spilled += entries.length;
    const written = this.journal.append(entries).catch((e: Error) => {
      this.counts.lost += entries.length;
      this.onError(e, `journal append (${reason})`);
    });
    this.spills = Promise.all([this.spills, written]);
  }
}
