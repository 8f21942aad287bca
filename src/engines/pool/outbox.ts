/**
 * What a worker has produced since its last message to the handle: the batched steps that ran and
 * the tokens they sampled, sent as one `progress` message. A `postMessage` costs tens of
 * microseconds on the worker and again on the thread that receives it, as much as a third of a nano
 * decode step, so when steps are short the outbox holds tokens across a few of them:
 *
 * - a generation's first token leaves on the next turn of the event loop (time to first token);
 * - before a step, what is held leaves if the last step took `maxDelayMs` or more (a token never
 *   waits through a long forward pass) or if the oldest held token is that old;
 * - a timer sends what is held `maxDelayMs` after it was queued when no step comes;
 * - `flush()` sends everything at once: the worker calls it before any other message, so a
 *   generation's tokens still arrive before its done or error.
 *
 * So a token waits at most `maxDelayMs` plus one short step. `maxDelayMs` 0 sends on the next turn
 * every time (each step's tokens in one message, as before).
 */
import type { StepRun, TokenMessage } from "./protocol.js";

export interface ProgressOutboxOptions {
  readonly post: (progress: { readonly steps: StepRun[]; readonly tokens: TokenMessage[] }) => void;
  /** how long a token may be held for the next message */
  readonly maxDelayMs: number;
  readonly now?: () => number;
  readonly onNextTurn?: (fn: () => void) => void;
  readonly after?: (ms: number, fn: () => void) => { cancel(): void };
}

const nextTurn = (fn: () => void) => {
  setImmediate(fn);
};
const timer = (ms: number, fn: () => void) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

export class ProgressOutbox {
  private steps: StepRun[] = [];
  private tokens: TokenMessage[] = [];
  /** when the oldest held token was queued */
  private oldestAt = 0;
  private turnQueued = false;
  private pendingTimer: { cancel(): void } | undefined;
  private stepStartedAt = 0;
  private lastStepMs = Number.POSITIVE_INFINITY;
  private readonly now: () => number;
  private readonly onNextTurn: (fn: () => void) => void;
  private readonly after: (ms: number, fn: () => void) => { cancel(): void };

  constructor(private readonly options: ProgressOutboxOptions) {
    this.now = options.now ?? (() => performance.now());
    this.onNextTurn = options.onNextTurn ?? nextTurn;
    this.after = options.after ?? timer;
  }

  /** A sampled token; `first`: the generation's first, which leaves on the next turn. */
  token(item: TokenMessage, first: boolean): void {
    if (this.tokens.length === 0) this.oldestAt = this.now();
    this.tokens.push(item);
    if (first || this.options.maxDelayMs <= 0) this.flushOnNextTurn();
    else this.pendingTimer ??= this.after(this.options.maxDelayMs, () => this.flush());
  }

  /** A batched step that ran (its report goes with the next message); ends the step `beforeStep` began. */
  step(run: StepRun): void {
    this.lastStepMs = this.now() - this.stepStartedAt;
    this.steps.push(run);
    if (this.options.maxDelayMs <= 0) this.flushOnNextTurn();
  }

  /** A step is about to run: what is held leaves now unless steps are short and it is young. */
  beforeStep(): void {
    const now = this.now();
    this.stepStartedAt = now;
    const held = this.tokens.length > 0 || this.steps.length > 0;
    if (!held) return;
    const maxDelay = this.options.maxDelayMs;
    if (this.lastStepMs >= maxDelay || this.tokens.length === 0 || now - this.oldestAt >= maxDelay) this.flush();
  }

  /** Sends everything held, if anything. */
  flush(): void {
    this.pendingTimer?.cancel();
    this.pendingTimer = undefined;
    if (this.steps.length === 0 && this.tokens.length === 0) return;
    const progress = { steps: this.steps, tokens: this.tokens };
    this.steps = [];
    this.tokens = [];
    this.options.post(progress);
  }

  private flushOnNextTurn(): void {
    if (this.turnQueued) return;
    this.turnQueued = true;
    this.onNextTurn(() => {
      this.turnQueued = false;
      this.flush();
    });
  }
}
