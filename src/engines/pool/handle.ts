/**
 * One variant's engine on its own worker thread, seen from the main thread: a bounded priority
 * queue in front of `slots` concurrent generations (full, it refuses the least urgent request: a
 * newcomer of higher priority takes the place of the newest of the lowest), token streaming, cancellation and live counters
 * (the router keeps the rate averages, from each result's timings). Admission is split: the handle
 * bounds generations by `slots` and its queue; the worker, which tokenizes, holds a dispatched
 * generation whose KV reservation does not fit the budget yet (`kv-wait` until `admitted`), and
 * such a generation counts as waiting, not running. A worker that fails to load leaves the handle `failed`: every request on it
 * is refused, and the rest of the pool keeps serving. A worker that crashes after loading fails
 * the generations it was running, then is restarted (with a growing delay) while new requests
 * wait in the queue; after `maxRestarts` crashes in a row without a minute of service, it stays failed.
 * With `idleUnloadMs`, a worker with nothing running or queued for that long is terminated (its model's
 * memory goes with the thread) and the variant is `unloaded`; the next request waits in the queue while
 * a new worker loads it, as after a crash.
 */
import type { Worker } from "node:worker_threads";
import { ModelLoadError } from "../errors.js";
import type { CpuTurnSeat, CpuTurnStats, CpuTurns } from "./cpu-turns.js";
import { GenerationAbortedError, QueueFullError, reviveError, VariantUnavailableError } from "./errors.js";
import type {
  FromWorker,
  PoolGenerateRequest,
  PoolResult,
  PoolToken,
  ToWorker,
  VariantInfo,
  WorkerInit,
} from "./protocol.js";
import { PriorityQueue } from "./queue.js";
import { spawnWorker } from "./spawn.js";

export interface VariantWorkerOptions extends Omit<WorkerInit, "cpuTurns"> {
  /** generations run at once inside the worker (batched per step, or interleaved token by token); default 1 */
  readonly slots?: number;
  /** requests that may wait for a slot; more are refused with QueueFullError; default 64 */
  readonly maxQueue?: number;
  /** delay before the first restart after a crash (doubling per crash in a row, capped at 30 s); default 500 ms */
  readonly restartDelayMs?: number;
  /** crashes in a row (none after a minute of service) before the variant stays failed; default 5 */
  readonly maxRestarts?: number;
  /**
   * unload the model after this long with nothing running or queued (the worker is terminated, its
   * memory freed); the next request reloads it. Unset or 0: never
   */
  readonly idleUnloadMs?: number | undefined;
  /** the process's CPU turn lock (`createCpuTurns`, one for all workers): the engine's forward calls take turns */
  readonly cpuTurns?: CpuTurns | undefined;
}

/**
 * `unloaded`: terminated for idleness, loaded again by the next request; `reloading`: that load, with
 * requests waiting for it. Both can take requests; `loading` (the first load, or a restart) cannot yet.
 */
export type VariantWorkerState = "loading" | "ready" | "unloaded" | "reloading" | "failed" | "closed";

export interface VariantWorker {
  readonly name: string;
  readonly path: string;
  /** resolves once the model is loaded; rejects with ModelLoadError (already handled: no unhandled rejection) */
  readonly ready: Promise<VariantInfo>;
  readonly state: VariantWorkerState;
  /** why the variant failed, when it did */
  readonly error: string | undefined;
  readonly info: VariantInfo | undefined;
  readonly slots: number;
  /** generations dispatched to the worker, less those it holds waiting for KV budget */
  readonly running: number;
  /** requests in the queue, plus generations dispatched to the worker that wait for KV budget */
  readonly waiting: number;
  /** queued requests a new one of `priority` would wait behind: those of that priority or higher */
  waitingAtOrAbove(priority: number): number;
  /**
   * KV-cache positions the running generations' sessions hold, as of each one's latest token (a
   * generation still in its prefill counts 0 until its first token); 0 when nothing runs
   */
  readonly kvTokensInUse: number;
  /** KV-cache positions the running generations have reserved (each session's size); 0 when nothing runs */
  readonly kvTokensReserved: number;
  /** the worker's KV budget: the most positions the running generations may reserve at once; null until loaded */
  readonly kvTokenCapacity: number | null;
  /**
   * sequences in the worker's latest batched step while generations run (0 when none runs); null when the
   * engine does not batch (each generation runs its own passes) or the worker is not loaded
   */
  readonly batchSize: number | null;
  /** batched steps the worker has run since this handle started, and their sequences in total (mean batch = sequences / steps) */
  readonly batchSteps: { readonly steps: number; readonly sequences: number; readonly largest: number };
  /** restarts after crashes so far */
  readonly restarts: number;
  /** idle unloads so far */
  readonly unloads: number;
  /**
   * How long before this variant can run anything: an unloaded variant's last load time (thread start to
   * ready, as this handle saw it: more than the worker's `loadMs`, which counts the engine's load alone),
   * what is left of it while it reloads; 0 otherwise (a first load or a restart has no figure yet)
   */
  readonly pendingLoadMs: number;
  /** CPU turns this variant's workers took and the time they waited for them (null without a turn lock) */
  readonly cpuTurnStats?: CpuTurnStats | null;
  generate(
    request: PoolGenerateRequest,
    onToken?: (token: PoolToken) => void,
    signal?: AbortSignal,
  ): Promise<PoolResult>;
  /**
   * Start loading an unloaded variant without a request (a router that refused it for its load time
   * would otherwise never see it warm); no effect in any other state
   */
  prewarm(): void;
  /** test hook: make the worker exit abnormally */
  crash(): void;
  close(): Promise<void>;
}

interface Job {
  readonly id: number;
  readonly request: PoolGenerateRequest;
  readonly onToken: ((token: PoolToken) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly enqueuedAt: number;
  startedAt: number;
  readonly tokens: PoolToken[];
  /** KV-cache positions its session held at its latest token */
  kvTokens: number;
  /** positions the worker reserved for it once it was admitted (0 until then) */
  kvReserved: number;
  /** the worker holds it until its KV reservation fits (`kv-wait` until `admitted`) */
  kvWaiting: boolean;
  readonly resolve: (result: PoolResult) => void;
  readonly reject: (error: Error) => void;
  detach: () => void;
}

const MAX_RESTART_DELAY_MS = 30_000;
/** How long close() lets a loading worker finish before terminating it anyway. */
const CLOSE_LOAD_WAIT_MS = 30_000;
/** Service time after which a crash counts as the first of a new row. */
const STABLE_MS = 60_000;

interface ReadySettle {
  resolve: (info: VariantInfo) => void;
  reject: (e: Error) => void;
}

export function startVariantWorker(options: VariantWorkerOptions): VariantWorker {
  return new WorkerHandle(options);
}

class WorkerHandle implements VariantWorker {
  readonly name: string;
  readonly path: string;
  readonly slots: number;
  readonly ready: Promise<VariantInfo>;
  state: VariantWorkerState = "loading";
  error: string | undefined;
  info: VariantInfo | undefined;
  restarts = 0;
  unloads = 0;
  private worker!: Worker;
  /** which spawned worker is current: events from an older one are ignored */
  private generation = 0;
  private crashesInARow = 0;
  private readySince = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** settles when the current worker has finished loading (or failed, or exited) */
  private loadSettled: Promise<void> = Promise.resolve();
  private readonly init: WorkerInit;
  private readonly cpuTurns: CpuTurns | undefined;
  /** the current worker's seat at the turn lock, and what earlier workers' seats added up to */
  private seat: CpuTurnSeat | undefined;
  private pastTurns: CpuTurnStats = { turns: 0, waitMs: 0, heldMs: 0, cores: 0 };
  private readonly restartDelayMs: number;
  private readonly maxRestarts: number;
  private readonly idleUnloadMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** when the current worker was spawned, and how long the last one took from then to ready */
  private spawnedAt = 0;
  private lastLoadMs = 0;
  /** settles the `ready` promise: only the first load does; later loads find it settled */
  private readonly settle: ReadySettle;
  private readonly queue: PriorityQueue<Job>;
  private readonly active = new Map<number, Job>();
  private nextId = 1;
  private lastBatchSize = 0;
  private readonly steps = { steps: 0, sequences: 0, largest: 0 };

  constructor(options: VariantWorkerOptions) {
    this.name = options.name;
    this.path = options.path;
    this.slots = Math.max(1, Math.floor(options.slots ?? 1));
    this.queue = new PriorityQueue<Job>(Math.max(0, Math.floor(options.maxQueue ?? 64)));
    this.restartDelayMs = Math.max(0, options.restartDelayMs ?? 500);
    this.maxRestarts = Math.max(0, Math.floor(options.maxRestarts ?? 5));
    this.idleUnloadMs = Math.max(0, options.idleUnloadMs ?? 0);
    const { name, path, threads, contextLength, activations, kvCacheType } = options;
    const { batching, stepTokenBudget, kvTokenBudget, maxKvWaitMs } = options;
    this.init = {
      name,
      path,
      threads,
      contextLength,
      activations,
      kvCacheType,
      slots: this.slots,
      batching,
      stepTokenBudget,
      kvTokenBudget,
      maxKvWaitMs,
    };
    this.cpuTurns = options.cpuTurns;
    let settle!: ReadySettle;
    this.ready = new Promise<VariantInfo>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.ready.catch(() => undefined);
    this.settle = settle;
    this.spawn(settle);
  }

  private spawn(settle: ReadySettle): void {
    const generation = ++this.generation;
    this.spawnedAt = performance.now();
    const seat = this.cpuTurns?.join(this.init.threads);
    this.seat = seat;
    const worker = spawnWorker({ ...this.init, cpuTurns: seat });
    this.worker = worker;
    let loaded!: () => void;
    this.loadSettled = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    const current = () => generation === this.generation;
    worker.on("message", (message: FromWorker) => {
      if (message.type === "ready" || message.type === "load-error") loaded();
      if (current()) this.onMessage(message, settle);
    });
    worker.on("error", (e) => {
      loaded();
      if (current()) this.lost(`worker error: ${e.message}`, settle);
    });
    worker.on("exit", (code) => {
      loaded();
      if (seat) this.leaveSeat(seat);
      if (current() && this.state !== "closed") this.lost(`worker exited with code ${code}`, settle);
    });
  }

  /** The worker is gone: restart it if it had been serving, else the variant has failed. */
  private lost(reason: string, settle: ReadySettle): void {
    if (this.state !== "ready") {
      this.fail(reason, settle.reject);
      return;
    }
    if (performance.now() - this.readySince >= STABLE_MS) this.crashesInARow = 0;
    if (this.crashesInARow >= this.maxRestarts) {
      this.fail(`${reason} (${this.crashesInARow} restarts in a row)`, settle.reject);
      return;
    }
    this.crashesInARow++;
    this.restarts++;
    this.generation++; // the dead worker's remaining events are ignored
    this.state = "loading";
    this.error = `restarting after: ${reason}`;
    // what was running is lost; what waits in the queue runs on the new worker
    this.failActive(new VariantUnavailableError(this.name, "restarting", reason));
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.restartDelayMs * 2 ** (this.crashesInARow - 1));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state === "loading") this.spawn(settle);
    }, delay);
  }

  get running(): number {
    return this.active.size - this.kvWaiting;
  }

  get waiting(): number {
    return this.queue.size + this.kvWaiting;
  }

  /** dispatched generations the worker said wait for KV budget */
  private get kvWaiting(): number {
    let count = 0;
    for (const job of this.active.values()) if (job.kvWaiting) count++;
    return count;
  }

  get kvTokensReserved(): number {
    let total = 0;
    for (const job of this.active.values()) total += job.kvReserved;
    return total;
  }

  get batchSize(): number | null {
    if (this.info?.batched !== true) return null;
    return this.running > 0 ? this.lastBatchSize : 0;
  }

  get batchSteps(): { steps: number; sequences: number; largest: number } {
    return { ...this.steps };
  }

  waitingAtOrAbove(priority: number): number {
    // generations held for KV budget are dispatched already: a newcomer of any priority waits behind them
    return this.queue.countAtOrAbove(priority) + this.kvWaiting;
  }

  get kvTokensInUse(): number {
    let total = 0;
    for (const job of this.active.values()) total += job.kvTokens;
    return total;
  }

  get pendingLoadMs(): number {
    if (this.state === "unloaded") return this.lastLoadMs;
    if (this.state === "reloading") {
      return Math.max(0, this.lastLoadMs - (performance.now() - this.spawnedAt));
    }
    return 0;
  }

  get cpuTurnStats(): CpuTurnStats | null {
    if (!this.cpuTurns) return null;
    const now = this.seat ? this.cpuTurns.stats(this.seat) : { turns: 0, waitMs: 0, heldMs: 0, cores: 0 };
    const past = this.pastTurns;
    return {
      turns: past.turns + now.turns,
      waitMs: past.waitMs + now.waitMs,
      heldMs: past.heldMs + now.heldMs,
      // the latest call's, this worker's (a restarted one has made none yet: 0)
      cores: now.cores,
    };
  }

  /** A worker is gone: keep its seat's totals, and free the seat (and any turn it held) for the others. */
  private leaveSeat(seat: CpuTurnSeat): void {
    if (!this.cpuTurns) return;
    if (this.seat === seat) {
      this.pastTurns = this.cpuTurnStats ?? this.pastTurns;
      this.seat = undefined;
    }
    this.cpuTurns.leave(seat);
  }

  get kvTokenCapacity(): number | null {
    return this.info ? (this.info.kvTokenBudget ?? this.slots * this.info.contextLength) : null;
  }

  generate(
    request: PoolGenerateRequest,
    onToken?: (token: PoolToken) => void,
    signal?: AbortSignal,
  ): Promise<PoolResult> {
    if (this.state === "failed" || this.state === "closed") {
      return Promise.reject(new VariantUnavailableError(this.name, this.state, this.error));
    }
    if (signal?.aborted) return Promise.reject(new GenerationAbortedError(this.name));
    return new Promise<PoolResult>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        request,
        onToken,
        signal,
        enqueuedAt: performance.now(),
        startedAt: 0,
        tokens: [],
        kvTokens: 0,
        kvReserved: 0,
        kvWaiting: false,
        resolve,
        reject,
        detach: () => undefined,
      };
      if (signal) {
        const onAbort = () => this.abort(job);
        signal.addEventListener("abort", onAbort, { once: true });
        job.detach = () => signal.removeEventListener("abort", onAbort);
      }
      if (this.state === "ready" && this.active.size < this.slots) {
        this.dispatch(job);
        return;
      }
      if (this.state === "unloaded") this.reload();
      if (!this.queue.push(job, request.priority ?? 0)) {
        // a full queue makes room for a more urgent request: the newest of the least urgent is refused instead
        const refused = this.queue.displace(job, request.priority ?? 0) ?? job;
        refused.detach();
        refused.reject(new QueueFullError(this.name, this.queue.capacity));
      }
    });
  }

  prewarm(): void {
    if (this.state === "unloaded") this.reload();
  }

  crash(): void {
    this.post({ type: "crash" });
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    const loading = this.state === "loading" || this.state === "reloading";
    this.state = "closed";
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.disarmIdle();
    this.failAll(new VariantUnavailableError(this.name, "closed"));
    // a worker stopped in the middle of loading can abort the process: onnxruntime's native session
    // creation calls back into a thread that is gone. Let the load finish first (bounded).
    if (loading) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.loadSettled,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_LOAD_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.worker.terminate();
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  /** Nothing runs or waits: unload after `idleUnloadMs` unless a request comes first. */
  private armIdle(): void {
    if (this.idleUnloadMs <= 0 || this.state !== "ready" || this.active.size > 0 || this.queue.size > 0) return;
    this.disarmIdle();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.unload();
    }, this.idleUnloadMs);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private unload(): void {
    if (this.state !== "ready" || this.active.size > 0 || this.queue.size > 0) return;
    this.generation++; // the terminated worker's exit is not a crash
    this.state = "unloaded";
    this.unloads++;
    void this.worker.terminate();
  }

  /** A request for an unloaded variant: load it again; requests queue meanwhile. */
  private reload(): void {
    this.state = "reloading";
    this.spawn(this.settle);
  }

  private dispatch(job: Job): void {
    this.disarmIdle();
    job.startedAt = performance.now();
    this.active.set(job.id, job);
    const { priority: _priority, ...request } = job.request;
    this.post({ type: "generate", id: job.id, request });
  }

  private pump(): void {
    while (this.state === "ready" && this.active.size < this.slots) {
      const job = this.queue.shift();
      if (!job) return;
      this.dispatch(job);
    }
  }

  private abort(job: Job): void {
    if (this.queue.remove(job)) {
      job.reject(new GenerationAbortedError(this.name));
      this.armIdle();
      return;
    }
    // running: the worker stops at the next token and reports done, which frees the slot
    if (this.active.has(job.id)) this.post({ type: "cancel", id: job.id });
  }

  private onMessage(message: FromWorker, settle: ReadySettle): void {
    if (this.state === "closed") return;
    switch (message.type) {
      case "ready":
        this.info = message.info;
        this.lastLoadMs = performance.now() - this.spawnedAt;
        this.state = "ready";
        this.error = undefined;
        this.readySince = performance.now();
        settle.resolve(message.info);
        this.pump();
        this.armIdle();
        return;
      case "load-error":
        this.fail(message.error.message, settle.reject);
        void this.worker.terminate();
        return;
      case "kv-wait": {
        const job = this.active.get(message.id);
        if (job) job.kvWaiting = true;
        return;
      }
      case "admitted": {
        const job = this.active.get(message.id);
        if (!job) return;
        job.kvWaiting = false;
        job.kvReserved = message.kvReserved;
        return;
      }
      case "progress":
        for (const { batchSize } of message.steps) {
          this.lastBatchSize = batchSize;
          this.steps.steps++;
          this.steps.sequences += batchSize;
          this.steps.largest = Math.max(this.steps.largest, batchSize);
        }
        for (const item of message.tokens) {
          const job = this.active.get(item.id);
          if (!job) continue;
          job.tokens.push(item.token);
          job.kvTokens = item.kvTokens;
          if (!job.signal?.aborted) job.onToken?.(item.token);
        }
        return;
      case "done": {
        const job = this.finish(message.id);
        if (!job) return;
        const r = message.result;
        if (job.signal?.aborted) job.reject(new GenerationAbortedError(this.name));
        else job.resolve({ ...r, queueMs: job.startedAt - job.enqueuedAt, tokens: job.tokens });
        return;
      }
      case "error": {
        const job = this.finish(message.id);
        if (!job) return;
        // a cancelled generation may end in whatever its wait or step was rejected with
        job.reject(job.signal?.aborted ? new GenerationAbortedError(this.name) : reviveError(this.name, message.error));
        return;
      }
    }
  }

  private finish(id: number): Job | undefined {
    const job = this.active.get(id);
    if (!job) return undefined;
    this.active.delete(id);
    job.detach();
    this.pump();
    this.armIdle();
    return job;
  }

  private fail(reason: string, rejectReady: (e: Error) => void): void {
    if (this.state === "failed" || this.state === "closed") return;
    const wasLoading = this.state === "loading";
    this.disarmIdle();
    this.state = "failed";
    this.error = reason;
    if (wasLoading) rejectReady(new ModelLoadError(this.path, reason));
    this.failAll(new VariantUnavailableError(this.name, "failed", reason));
  }

  private failAll(error: Error): void {
    for (const job of this.queue.drain()) {
      job.detach();
      job.reject(error);
    }
    this.failActive(error);
  }

  private failActive(error: Error): void {
    for (const job of this.active.values()) {
      job.detach();
      job.reject(error);
    }
    this.active.clear();
  }
}
