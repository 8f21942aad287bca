/**
 * A worker's hard limit on KV-cache positions: each generation reserves what its session is sized
 * to (prompt + max tokens, capped at the context) before it runs and hands it back when it ends.
 * Reservations wait in arrival order (a large one is not overtaken forever by small ones) and are
 * refused once they have waited `maxWaitMs`.
 */

/** How long a reservation waits when the variant's config sets no `maxKvWaitMs`. */
export const DEFAULT_MAX_KV_WAIT_MS = 10_000;

export interface KvReservation {
  readonly tokens: number;
  /** hands the positions back (once; later calls do nothing) */
  release(): void;
}

/** The budget stayed spent for as long as a reservation may wait. */
export class KvWaitExceededError extends Error {
  constructor(
    readonly tokens: number,
    readonly limit: number,
    readonly waitedMs: number,
  ) {
    super(
      `the KV-cache budget (${limit} tokens) stayed spent for ${Math.round(waitedMs)} ms; this request needs ${tokens}`,
    );
    this.name = "KvWaitExceededError";
  }
}

interface Waiter {
  readonly tokens: number;
  readonly grant: () => void;
}

export class KvBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    /** the most positions reserved at once */
    readonly limit: number,
    private readonly maxWaitMs: number,
  ) {}

  /** positions reserved now */
  get inUse(): number {
    return this.used;
  }

  /** reservations waiting for room */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Whether a reservation of `tokens` would be granted at once (nobody waits ahead and it fits). */
  fitsNow(tokens: number): boolean {
    return this.waiters.length === 0 && this.used + tokens <= this.limit;
  }

  /**
   * Reserves `tokens` (at most `limit`: the caller refuses a larger request, which can never fit),
   * waiting while the budget is spent; rejects with KvWaitExceededError after `maxWaitMs`, or with
   * the signal's reason when it aborts first.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<KvReservation> {
    if (tokens > this.limit) return Promise.reject(new RangeError(`${tokens} tokens exceed the budget ${this.limit}`));
    if (this.fitsNow(tokens)) return Promise.resolve(this.take(tokens));
    return new Promise<KvReservation>((resolve, reject) => {
      const started = performance.now();
      const leave = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        // the head leaving may let the next ones in
        this.grant();
      };
      const onAbort = () => {
        leave();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const timer = setTimeout(() => {
        leave();
        reject(new KvWaitExceededError(tokens, this.limit, performance.now() - started));
      }, this.maxWaitMs);
      const waiter: Waiter = {
        tokens,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(this.take(tokens));
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private take(tokens: number): KvReservation {
    this.used += tokens;
    let released = false;
    return {
      tokens,
      release: () => {
        if (released) return;
        released = true;
        this.used -= tokens;
        this.grant();
      },
    };
  }

  /** Lets waiters in, in arrival order, while the head fits. */
  private grant(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (this.used + head.tokens > this.limit) return;
      this.waiters.shift();
      head.grant();
    }
  }
}

/** Share of the machine's memory the default budget lets one worker's KV caches take. */
const KV_MEMORY_SHARE = 0.25;

/**
 * The budget when the config sets none: room for `slots` full contexts (so the budget never refuses
 * what the slots admit), but no more than a quarter of the machine's memory when the engine says
 * what a position costs; never less than one full context, so every request that fits the model fits.
 */
export function defaultKvTokenBudget(
  engine: { readonly contextLength: number; readonly kvBytesPerToken?: number | undefined },
  slots: number,
  memoryBytes: number,
): number {
  const full = Math.max(1, slots) * engine.contextLength;
  const perToken = engine.kvBytesPerToken;
  if (perToken === undefined || perToken <= 0) return full;
  const memoryCap = Math.floor((memoryBytes * KV_MEMORY_SHARE) / perToken);
  return Math.max(engine.contextLength, Math.min(full, memoryCap));
}
