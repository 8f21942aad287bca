/**
 * The database recorder: the server's `DecisionRecorder` backed by Postgres or PGlite.
 *
 * `enqueue` never awaits anything: it adds the row to the journal's current segment (one synchronous
 * write per event-loop turn into the page cache, so the row outlives this process being killed once
 * the turn that enqueued it ends) and counts it; that is all it does on the request path. Every
 * `flushIntervalMs`, or as soon as `batchRows` are in it, the segment is closed and handed to the
 * flusher (`flusher.ts`), which reads its rows back, writes them in idempotent batches and deletes it
 * once all are committed, or seals it for replay when the database is unreachable or a batch fails.
 * Under postgres.js the flusher runs on its own worker thread with its own pool (`flusher-thread.ts`),
 * so the COPY encoding, the driver and the retries never hold up a request; under PGlite, whose one
 * instance lives on this thread, it runs here. Past `queueCapacity` rows waiting for the database,
 * the current segment is sealed for replay instead of handed over (its rows are on disk already):
 * nothing is dropped. Segments left by a crashed or killed process are replayed by `start`; `close`
 * drains.
 */
import type { RecordEntry } from "./entry.js";
import { Flusher, type FlusherSettings, type FlusherStats, type Handed, NO_FLUSHES } from "./flusher.js";
import { FlusherThread } from "./flusher-thread.js";
import { Journal } from "./journal.js";
import { connectionUrl, type Database } from "./open.js";
import type { RequestInsert, RoutingDecisionInsert } from "./schema.js";
import type { WriteMethod } from "./write.js";

export interface RecorderOptions {
  readonly database: Database;
  /** Where the journal lives (e.g. `<stateDir>/journal`). */
  readonly journalDir: string;
  /** Flush at least this often (default 200 ms). */
  readonly flushIntervalMs?: number;
  /**
   * Rows per batch; a full batch is handed over without waiting for the interval (default 2,000 under
   * postgres.js; 250 under PGlite, whose queries run on this thread and hold up the event loop meanwhile).
   */
  readonly batchRows?: number;
  /** Rows waiting for the database at most; beyond, they are sealed in the journal for replay (default 50,000). */
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
  /**
   * Flush on a worker thread of its own, which connects with the URL of a `database` opened by
   * `openDatabase` from a postgres:// URL. On by default for such a database; `false` keeps the flusher
   * on this thread. `true` with any other `database` is refused (PGlite's one instance lives here, and
   * a wrapper's behaviour is its object's own).
   */
  readonly flusherThread?: boolean;
}

/** The flusher's figures (their docs are on `FlusherStats`) with what happens on the gateway's side. */
export interface RecorderStats extends Omit<FlusherStats, "settled"> {
  /** rows enqueued and not yet committed, nor sealed in the journal */
  readonly queueDepth: number;
  readonly queueCapacity: number;
  readonly journalPending: boolean;
  /** whether the flusher runs on its own thread */
  readonly flusherThread: boolean;
}

/** The flusher on this thread (PGlite, or a wrapped `Database`), behind the calls the thread's takes. */
class LocalFlusher {
  private scheduled = false;
  private closed = false;
  constructor(private readonly flusher: Flusher) {}

  get settled(): number {
    return this.flusher.settledRows;
  }

  stats(): FlusherStats {
    return this.flusher.stats();
  }

  hand(item: Handed): void {
    this.flusher.hand(item);
    // never inside the enqueue that handed it: the request path does not wait for a flush
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.closed) this.flusher.kick();
    });
  }

  tick(): void {
    this.flusher.kick();
  }

  start(): Promise<void> {
    return this.flusher.runCycle();
  }

  flush(): Promise<void> {
    return this.flusher.flush();
  }

  maintain(): Promise<{ readonly dropped: readonly string[] }> {
    return this.flusher.maintain();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.flusher.drain();
  }
}

type Port = LocalFlusher | FlusherThread;

/** The figures of flusher threads that died, added to the running one's. */
function sum(a: FlusherStats, b: FlusherStats): FlusherStats {
  return {
    written: a.written + b.written,
    duplicates: a.duplicates + b.duplicates,
    spilled: a.spilled + b.spilled,
    replayed: a.replayed + b.replayed,
    rejected: a.rejected + b.rejected,
    lost: a.lost + b.lost,
    flushes: a.flushes + b.flushes,
    failedFlushes: a.failedFlushes + b.failedFlushes,
    lastFlushMs: b.lastFlushMs,
    maxFlushMs: Math.max(a.maxFlushMs, b.maxFlushMs),
    databaseAvailable: b.databaseAvailable,
    settled: 0,
  };
}

export class DatabaseRecorder {
  private readonly database: Database;
  private readonly journal: Journal;
  private readonly journalDir: string;
  private readonly url: string | undefined;
  private readonly settings: FlusherSettings;
  private readonly flushIntervalMs: number;
  private readonly queueCapacity: number;
  private readonly injectedNow: (() => number) | undefined;
  private readonly onError: (error: Error, context: string) => void;

  private port: Port | undefined;
  private restarting = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** rows handed to the current flusher (its `settled` counts those it is done with) */
  private handed = 0;
  /** the current segment is past the queue's capacity: sealed for replay when it closes, not handed over */
  private overflow = false;
  /** rows sealed or appended on this side (queue full, after close, no flusher), and lost here */
  private spilledHere = 0;
  private lostHere = 0;
  private dead: FlusherStats | undefined;
  private spills: Promise<unknown> = Promise.resolve();

  private constructor(options: RecorderOptions) {
    this.database = options.database;
    this.journalDir = options.journalDir;
    // a segment the disk refused: its rows go to the flusher as lines, from memory
    this.journal = new Journal(options.journalDir, (error, rows, lines) => {
      this.onError(error, `journal write (${rows} rows only in memory)`);
      this.handLines(lines, rows);
    });
    const postgres = options.database.postgres !== undefined;
    const batchRows = Math.max(1, options.batchRows ?? (postgres ? 2000 : 250));
    this.settings = {
      batchRows,
      method: options.method ?? (postgres ? "copy" : "insert"),
      concurrency: Math.max(1, options.concurrency ?? (postgres ? 2 : 1)),
      retentionDays: options.retentionDays ?? 30,
      partitionsAheadDays: options.partitionsAheadDays ?? 2,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? 3_600_000,
      retryMs: options.retryMs ?? 1000,
    };
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.queueCapacity = Math.max(batchRows, options.queueCapacity ?? 50_000);
    const url = connectionUrl(options.database);
    this.url = options.flusherThread === false ? undefined : url;
    if (options.flusherThread === true && url === undefined)
      throw new Error("a flusher thread needs a database opened by openDatabase from a postgres:// URL");
    this.injectedNow = options.now;
    this.onError = options.onError ?? (() => undefined);
  }

  /** Opens the journal, replays what a previous run left there, makes partitions ahead and starts flushing. */
  static async start(options: RecorderOptions): Promise<DatabaseRecorder> {
    const recorder = new DatabaseRecorder(options);
    recorder.port = await recorder.startFlusher();
    recorder.schedule();
    return recorder;
  }

  /**
   * The request path's only call: never awaits, never throws. The row is written to the journal's
   * current segment (the page cache: it survives this process being killed) and counted.
   */
  enqueue(request: Readonly<RequestInsert>, decision: Readonly<RoutingDecisionInsert> | null): void {
    const entry: RecordEntry = { request, decision };
    if (this.closed) {
      this.spillAfterClose(entry);
      return;
    }
    this.journal.write(entry);
    if (this.overflow) this.spilledHere += 1;
    else if (this.waiting() + this.journal.segmentRows > this.queueCapacity) {
      // full: this segment's rows (on disk already) become the backlog to replay
      this.overflow = true;
      this.spilledHere += this.journal.segmentRows;
    }
    if (this.journal.segmentRows >= this.settings.batchRows) this.handOver();
  }

  stats(): RecorderStats {
    const running = this.port?.stats();
    const f = this.dead && running ? sum(this.dead, running) : (running ?? this.dead);
    // the flusher's own figures, less what only it needs; zero before it has reported
    const { settled: _settled, databaseAvailable, ...figures } = f ?? { ...NO_FLUSHES, databaseAvailable: true };
    return {
      ...figures,
      queueDepth: this.waiting() + (this.overflow ? 0 : this.journal.segmentRows),
      queueCapacity: this.queueCapacity,
      spilled: figures.spilled + this.spilledHere,
      lost: figures.lost + this.lostHere,
      databaseAvailable: this.port !== undefined && databaseAvailable,
      journalPending: this.journal.hasPending(),
      flusherThread: this.url !== undefined,
    };
  }

  /** Writes (or journals) everything enqueued so far and replays the journal when the database is there. */
  async flush(): Promise<void> {
    this.handOver();
    await this.spills;
    await this.port?.flush();
    await this.spills;
  }

  /** Partitions for today and the days ahead; drops those past retention. */
  maintain(): Promise<{ readonly dropped: readonly string[] }> {
    if (!this.port) return Promise.reject(new Error("the recorder's flusher is restarting"));
    return this.port.maintain();
  }

  /** Stops the timer, drains (to the database, else the journal), ends the flusher and closes the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.handOver();
    // segments sealed here (queue full) are on disk before the flusher's last replay
    await this.spills;
    try {
      await this.port?.close();
    } catch (e) {
      // what it had not committed is in its segments, replayed at the next start
      this.onError(e as Error, "flusher close");
    }
    await this.spills;
    await this.journal.close();
  }

  // ── the gateway's side of the flusher ─────────────────────────────────────────────────────────────────

  private async startFlusher(): Promise<Port> {
    if (this.url === undefined) {
      const local = new LocalFlusher(
        new Flusher({
          ...this.settings,
          database: this.database,
          journal: this.journal,
          now: this.injectedNow ?? Date.now,
          onError: this.onError,
        }),
      );
      await local.start();
      return local;
    }
    return FlusherThread.start({
      url: this.url,
      journalDir: this.journalDir,
      settings: this.settings,
      now: this.injectedNow,
      onError: this.onError,
      onExit: (error) => this.flusherDied(error),
    });
  }

  /** Handed and not yet settled by the flusher. */
  private waiting(): number {
    return this.handed - (this.port?.settled ?? 0);
  }

  private schedule(): void {
    this.timer = setInterval(() => {
      if (!this.handOver()) this.port?.tick();
      if (!this.port) this.restart();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Closes the current segment and hands it to the flusher (or seals it, past capacity); true if handed. */
  private handOver(): boolean {
    const segment = this.journal.rotate();
    const overflow = this.overflow;
    this.overflow = false;
    if (!segment) return false;
    if (overflow || !this.port) {
      if (!overflow) this.spilledHere += segment.rows;
      this.seal(segment.path, overflow ? "queue full" : "flusher restarting");
      return false;
    }
    this.handed += segment.rows;
    this.port.hand({ segment: segment.path, rows: segment.rows });
    return true;
  }

  private handLines(lines: string, rows: number): void {
    if (this.port) {
      this.handed += rows;
      this.port.hand({ lines, rows });
    } else {
      this.lostHere += rows;
    }
  }

  private seal(segment: string, reason: string): void {
    const sealed = this.journal.sealSegment(segment).catch((e: Error) => this.onError(e, `journal seal (${reason})`));
    this.spills = Promise.all([this.spills, sealed]).then(() => undefined); // no nesting of the results
  }

  private spillAfterClose(entry: RecordEntry): void {
    this.spilledHere += 1;
    const written = this.journal.append([entry]).catch((e: Error) => {
      this.lostHere += 1;
      this.onError(e, "journal append (enqueue after close)");
    });
    this.spills = Promise.all([this.spills, written]).then(() => undefined); // no nesting of the results
  }

  /**
   * The flusher thread died: the segments it held are on disk (`wal-*`); they are sealed for replay
   * and a new thread is started, which replays them.
   */
  private flusherDied(error: Error): void {
    this.onError(error, "flusher thread");
    const last = this.port?.stats();
    if (last) this.dead = this.dead ? sum(this.dead, last) : { ...last, settled: 0 };
    this.port = undefined;
    this.handed = 0;
    try {
      this.journal.sealAbandoned();
    } catch (e) {
      this.onError(e as Error, "journal seal (flusher thread died)");
    }
    if (!this.closed) this.restart();
  }

  private restart(): void {
    if (this.restarting || this.closed) return;
    this.restarting = true;
    this.startFlusher()
      .then((port) => {
        if (this.closed) void port.close();
        else this.port = port;
      })
      .catch((e: Error) => this.onError(e, "flusher thread start"))
      .finally(() => {
        this.restarting = false;
      });
  }
}
