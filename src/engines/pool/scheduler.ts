/**
 * Continuous (iteration-level) batching inside a variant's worker: every running generation's
 * forward passes become requests here, and each step runs all of them that fit as one
 * `forwardBatch` call. A step takes every waiting decode (one token) first, then prefill chunks in
 * arrival order under a per-step token budget, so a long prompt is split across steps and the
 * others keep decoding meanwhile; its `append` resolves when its last chunk ran. A sequence joins
 * at the next step after it asks and leaves as soon as it stops asking; one whose signal is aborted
 * is dropped (its append rejects) before the next step runs.
 *
 * The decode loop stays `generateWith`: it gets a `LogitsSession` whose append goes through the
 * batch, so sampling, stops, logprobs, constraints and seeds are the same code as unbatched.
 */
import type { LogitsSession, SequenceStep } from "../engine.js";
import { ContextOverflowError } from "../errors.js";

/** Tokens a step runs when the variant's config sets no `stepTokenBudget`. */
export const DEFAULT_STEP_TOKEN_BUDGET = 256;

export type ForwardBatch = (steps: readonly SequenceStep[]) => Float32Array[] | Promise<Float32Array[]>;

/** What one step ran. */
export interface StepReport {
  /** sequences in the step */
  readonly batchSize: number;
  /** tokens the step ran (decodes plus prefill chunks) */
  readonly tokens: number;
  /** the step's sequences that ran a part of a longer input (prefill chunks) */
  readonly chunks: number;
}

export interface StepSchedulerOptions {
  /** tokens one step may run: every waiting decode runs, prefill chunks fill what is left */
  readonly stepTokenBudget: number;
  /** called before every step's forward pass, so what the last step produced can leave first */
  readonly beforeStep?: () => void;
  /** called after every step, before its sequences' appends resolve */
  readonly onStep?: (report: StepReport) => void;
}

/** The generation was cancelled while its forward pass waited for a step. */
export class StepCancelledError extends Error {
  constructor() {
    super("the sequence was cancelled before its step ran");
    this.name = "StepCancelledError";
  }
}

interface Request {
  readonly session: LogitsSession;
  readonly tokens: readonly number[];
  readonly allLogits: boolean;
  /** the sequence's logits buffer from its earlier steps (decode and prefill, not allLogits) */
  readonly logitsInto: Float32Array | undefined;
  readonly signal: AbortSignal | undefined;
  /** tokens already run */
  done: number;
  /** logits rows of the chunks run so far (allLogits only) */
  readonly rows: Float32Array[];
  readonly resolve: (logits: Float32Array) => void;
  readonly reject: (e: unknown) => void;
}

export class StepScheduler {
  /** in arrival order; a chunked request keeps its place until its last chunk ran */
  private pending: Request[] = [];
  private scheduled = false;
  private readonly budget: number;

  constructor(
    private readonly forwardBatch: ForwardBatch,
    private readonly options: StepSchedulerOptions,
  ) {
    this.budget = Math.max(1, Math.floor(options.stepTokenBudget));
  }

  /** Sequences waiting for a step. */
  get waiting(): number {
    return this.pending.length;
  }

  /**
   * `inner` (an open session of the batched engine) seen through the scheduler: its append and
   * appendAll wait for a step; `signal` drops the sequence at the next step. The array an append
   * resolves with is the sequence's own logits buffer, which its next append overwrites (the engine
   * writes each step's logits there, `logitsInto`): a decode loop reads it before asking again.
   */
  session(inner: LogitsSession, signal?: AbortSignal): LogitsSession {
    let logitsBuffer: Float32Array | undefined;
    const submit = (tokens: readonly number[], allLogits: boolean) =>
      new Promise<Float32Array>((resolve, reject) => {
        if (tokens.length === 0) {
          reject(new Error("a forward pass needs at least one token"));
          return;
        }
        const logitsInto = allLogits ? undefined : logitsBuffer;
        // the first append's array becomes the buffer every later one is written into; a view of a whole
        // step's logits is copied first, so the sequence does not keep the other rows alive. Once adopted,
        // a decode step resolves directly (no closure a token).
        const adopt =
          allLogits || logitsBuffer
            ? resolve
            : (logits: Float32Array) => {
                logitsBuffer ??= logits.byteLength === logits.buffer.byteLength ? logits : logits.slice();
                resolve(logits);
              };
        this.pending.push({
          session: inner,
          tokens,
          allLogits,
          logitsInto,
          signal,
          done: 0,
          rows: [],
          resolve: adopt,
          reject,
        });
        this.schedule();
      });
    return {
      get length() {
        return inner.length;
      },
      get capacity() {
        return inner.capacity;
      },
      append: (tokens) => submit(tokens, false),
      appendAll: (tokens) => submit(tokens, true),
      close: () => inner.close?.(),
    };
  }

  /**
   * The next step runs on a later turn of the event loop: sequences resumed by this step ask for
   * their next token in microtasks before it, and cancel messages are seen between steps.
   */
  private schedule(): void {
    if (this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      void this.step().finally(() => {
        this.scheduled = false;
        this.schedule();
      });
    });
  }

  /** What the next step runs: decodes first, then prefill chunks under the token budget. */
  private plan(): Array<{ request: Request; count: number }> {
    const picked: Array<{ request: Request; count: number }> = [];
    let tokens = 0;
    for (const request of this.pending) {
      if (request.tokens.length - request.done === 1) {
        picked.push({ request, count: 1 });
        tokens++;
      }
    }
    for (const request of this.pending) {
      const rest = request.tokens.length - request.done;
      if (rest === 1) continue;
      const room = this.budget - tokens;
      if (room <= 0) break;
      const count = Math.min(rest, room);
      picked.push({ request, count });
      tokens += count;
    }
    return picked;
  }

  /**
   * Drops the sequences that cannot run (cancelled, or past their own cache) with their errors. The
   * usual step has none, so it is checked before a new list is built.
   */
  private dropUnrunnable(): void {
    /** the positions its cache would hold once its remaining tokens are in */
    const needed = (r: Request) => r.session.length + r.tokens.length - r.done;
    const runnable = (r: Request) => !r.signal?.aborted && needed(r) <= r.session.capacity;
    if (this.pending.every(runnable)) return;
    this.pending = this.pending.filter((r) => {
      if (r.signal?.aborted) {
        r.reject(new StepCancelledError());
        return false;
      }
      // a sequence that would overflow its own cache fails alone instead of failing the whole step
      if (needed(r) > r.session.capacity) {
        r.reject(new ContextOverflowError(needed(r), r.session.capacity));
        return false;
      }
      return true;
    });
  }

  private async step(): Promise<void> {
    this.dropUnrunnable();
    const picked = this.plan();
    if (picked.length === 0) return;
    this.options.beforeStep?.();
    const steps: SequenceStep[] = picked.map(({ request, count }) => ({
      session: request.session,
      tokens:
        count === request.tokens.length ? request.tokens : request.tokens.slice(request.done, request.done + count),
      allLogits: request.allLogits,
      // a sequence asks again only once it has read the buffer, so every chunk of it may write there
      logitsInto: request.logitsInto,
    }));
    let logits: Float32Array[];
    try {
      logits = await this.forwardBatch(steps);
    } catch (e) {
      // the engine changed no session: every sequence of the step fails, the rest wait for the next
      const failed = new Set(picked.map((p) => p.request));
      this.pending = this.pending.filter((r) => !failed.has(r));
      for (const r of failed) r.reject(e);
      return;
    }
    let tokens = 0;
    let chunks = 0;
    let finished = 0;
    for (let i = 0; i < picked.length; i++) {
      const { request, count } = picked[i]!;
      tokens += count;
      if (count < request.tokens.length) chunks++;
      request.done += count;
      if (request.allLogits) request.rows.push(logits[i]!);
      if (request.done === request.tokens.length) finished++;
    }
    if (finished > 0) this.pending = this.pending.filter((r) => r.done < r.tokens.length);
    this.options.onStep?.({ batchSize: picked.length, tokens, chunks });
    for (let i = 0; i < picked.length; i++) {
      const { request } = picked[i]!;
      if (request.done < request.tokens.length) continue;
      request.resolve(request.allLogits ? concat(request.rows) : logits[i]!);
    }
  }
}

function concat(rows: readonly Float32Array[]): Float32Array {
  if (rows.length === 1) return rows[0]!;
  const out = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
  let at = 0;
  for (const r of rows) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}
