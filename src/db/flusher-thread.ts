/**
 * The gateway's side of a flusher on its own worker thread (`flusher-worker.ts`), which opens its own
 * postgres.js pool from the database's URL. What crosses the thread boundary per hand-over is a
 * segment's path and row count, never the rows: the worker reads them back from the journal segment
 * the gateway already wrote (the page cache), so the gateway's thread pays no structured clone. The
 * worker reports its figures after each batch and cycle; `stats()` returns the latest, synchronously.
 * An injected clock (tests) is read here and its value sent with every message.
 */
import { Worker } from "node:worker_threads";
import { type FlusherSettings, type FlusherStats, type Handed, NO_FLUSHES } from "./flusher.js";

export interface FlusherWorkerData {
  readonly url: string;
  readonly journalDir: string;
  readonly settings: FlusherSettings;
  /** the pool's size: the batches in flight and one for partition maintenance */
  readonly maxConnections: number;
  /** the injected clock's time at start, when one was injected: the worker then takes `now` from each message */
  readonly startNow: number | undefined;
}

export type ToFlusher =
  | { readonly type: "hand"; readonly item: Handed; readonly now?: number }
  | { readonly type: "tick"; readonly now?: number }
  | { readonly type: "flush" | "maintain" | "close"; readonly id: number; readonly now?: number };

export type FromFlusher =
  | { readonly type: "ready" }
  | { readonly type: "stats"; readonly stats: FlusherStats }
  | { readonly type: "error"; readonly message: string; readonly context: string }
  | { readonly type: "done"; readonly id: number; readonly dropped?: readonly string[]; readonly error?: string };

export interface FlusherThreadOptions {
  readonly url: string;
  readonly journalDir: string;
  readonly settings: FlusherSettings;
  readonly now: (() => number) | undefined;
  readonly onError: (error: Error, context: string) => void;
  /** the thread died (not by `close`): the recorder takes back what it had handed */
  readonly onExit: (error: Error) => void;
}

const ZERO: FlusherStats = { ...NO_FLUSHES, databaseAvailable: true };

function spawn(data: FlusherWorkerData): Worker {
  // the process's flags but one a worker refuses (`node --input-type=module -e …` starts scripts)
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--input-type"));
  if (!import.meta.url.endsWith(".ts"))
    return new Worker(new URL("./flusher-worker.js", import.meta.url), { workerData: data, execArgv });
  // from sources (tsx, vitest) the worker registers tsx first, as the engine pool's workers do
  const entry = new URL("./flusher-worker.ts", import.meta.url).href;
  return new Worker(new URL("../engines/pool/tsx-entry.mjs", import.meta.url), {
    workerData: { ...data, entry },
    execArgv,
  });
}

export class FlusherThread {
  private latest: FlusherStats = ZERO;
  private readonly pending = new Map<number, { resolve: (m: FromFlusher) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closing = false;
  private alive = true;

  private constructor(
    private readonly worker: Worker,
    private readonly options: FlusherThreadOptions,
  ) {}

  /** Starts the thread; resolves once it has replayed what the journal held (as a recorder's start does). */
  static start(options: FlusherThreadOptions): Promise<FlusherThread> {
    const worker = spawn({
      url: options.url,
      journalDir: options.journalDir,
      settings: options.settings,
      maxConnections: options.settings.concurrency + 1,
      startNow: options.now?.(),
    });
    const thread = new FlusherThread(worker, options);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on("message", (m: FromFlusher) => {
        if (m.type === "ready") {
          ready = true;
          worker.unref(); // a recorder alone does not keep the gateway running; a pending request refs it
          resolve(thread);
        } else thread.received(m);
      });
      let failure: Error | undefined;
      worker.on("error", (e) => {
        failure = e;
      });
      worker.on("exit", (code) => {
        const error = failure ?? new Error(`the recorder's flusher thread exited (${code})`);
        if (!ready) reject(error);
        else thread.died(error);
      });
    });
  }

  get settled(): number {
    return this.latest.settled;
  }

  stats(): FlusherStats {
    return this.latest;
  }

  hand(item: Handed): void {
    this.post({ type: "hand", item, ...this.clock() });
  }

  tick(): void {
    this.post({ type: "tick", ...this.clock() });
  }

  async flush(): Promise<void> {
    await this.request("flush");
  }

  async maintain(): Promise<{ readonly dropped: readonly string[] }> {
    const m = await this.request("maintain");
    return { dropped: m.type === "done" ? (m.dropped ?? []) : [] };
  }

  /** Drains the thread (every handed row to the database, else the journal), closes its pool and ends it. */
  async close(): Promise<void> {
    if (!this.alive) return;
    this.closing = true;
    await this.request("close");
    this.alive = false;
    await this.worker.terminate();
  }

  private clock(): { now?: number } {
    return this.options.now ? { now: this.options.now() } : {};
  }

  private post(message: ToFlusher): void {
    if (this.alive) this.worker.postMessage(message);
  }

  private request(type: "flush" | "maintain" | "close"): Promise<FromFlusher> {
    if (!this.alive) return Promise.reject(new Error("the recorder's flusher thread is gone"));
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<FromFlusher>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type, id, ...this.clock() });
    });
  }

  private received(m: FromFlusher): void {
    if (m.type === "stats") this.latest = m.stats;
    else if (m.type === "error") this.options.onError(new Error(m.message), m.context);
    else if (m.type === "done") {
      const waiter = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error !== undefined) waiter?.reject(new Error(m.error));
      else waiter?.resolve(m);
    }
  }

  /** The thread ended without being asked to (or while draining): waiters fail, the recorder takes over. */
  private died(error: Error): void {
    if (!this.alive) return;
    this.alive = false;
    this.latest = { ...this.latest, databaseAvailable: false };
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
    // dying mid-close: `close` rejects and the recorder's close reports it; its segments stay for the next start
    if (!this.closing) this.options.onExit(error);
  }
}
