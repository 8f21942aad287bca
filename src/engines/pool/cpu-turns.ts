/**
 * One CPU budget for every engine in the process: a turn lock shared by the variants' worker
 * threads, held around each forward call. The kernels' pool and onnxruntime's intra-op threads are
 * each sized to all the cores (`threads`), so two engines computing at once would run 2x the
 * threads on the cores and both slow down (spinning pool threads make it worse than 2x); taking
 * turns lets each forward call have every core.
 *
 * State lives in a SharedArrayBuffer that the pool creates once (`createCpuTurns`) and hands to each
 * worker in its `WorkerInit` (`CpuTurnSeat`). Turns are granted in ticket order across workers
 * (FIFO: a worker that just released cannot take the next turn ahead of one already waiting), and
 * one worker's own callers queue FIFO in front of its single ticket. Waiting is `Atomics.waitAsync`,
 * so a waiting worker's event loop still runs (cancel messages are seen). A worker that dies holding
 * or waiting for a turn is cleared from the main thread (`leave`), so the others never wait on it.
 */

/** Int32 header words. */
const OWNER = 0; // 0: free, else seat index + 1
const NEXT_TICKET = 1;
const VERSION = 2; // bumped and notified on every release; waiters sleep on it
const INSIDE = 3; // forward calls running now, across all seats (counted in both modes)
const MOST_INSIDE = 4; // the most ever running at once
const HEADER_WORDS = 8;
/** Int32 words per seat: waiting (0/1), ticket, turns taken. */
const SEAT_WORDS = 4;
/** BigInt64 words per seat: nanoseconds waited for turns, nanoseconds holding them. */
const SEAT_CLOCKS = 2;
const DEFAULT_SEATS = 64;

/** What a worker is handed in its `WorkerInit`: plain data that crosses postMessage (the buffer is shared, not copied). */
export interface CpuTurnSeat {
  readonly buffer: SharedArrayBuffer;
  readonly index: number;
  /** false: forward calls are counted but never wait (the oversubscribed baseline the bench compares) */
  readonly exclusive: boolean;
}

/** One seat's totals since it joined. */
export interface CpuTurnStats {
  readonly turns: number;
  readonly waitMs: number;
  readonly heldMs: number;
}

interface Views {
  readonly words: Int32Array;
  readonly clocks: BigInt64Array;
  readonly seats: number;
}

function views(buffer: SharedArrayBuffer): Views {
  const seats = (buffer.byteLength - HEADER_WORDS * 4) / (SEAT_WORDS * 4 + SEAT_CLOCKS * 8);
  const wordBytes = (HEADER_WORDS + seats * SEAT_WORDS) * 4;
  return {
    words: new Int32Array(buffer, 0, HEADER_WORDS + seats * SEAT_WORDS),
    clocks: new BigInt64Array(buffer, wordBytes, seats * SEAT_CLOCKS),
    seats,
  };
}

const seatWord = (index: number, field: 0 | 1 | 2) => HEADER_WORDS + index * SEAT_WORDS + field;
const WAITING = 0;
const TICKET = 1;
const TURNS = 2;

/** The main thread's side: seats for workers, their totals, and the test counters. */
export interface CpuTurns {
  readonly exclusive: boolean;
  /** a seat for a new worker; throws when every seat is taken */
  join(): CpuTurnSeat;
  /** the worker of `seat` is gone: drop its ticket and any turn it held, wake the others */
  leave(seat: CpuTurnSeat): void;
  stats(seat: CpuTurnSeat): CpuTurnStats;
  /** forward calls running right now, and the most that ever ran at once (1 while exclusive) */
  readonly inside: number;
  readonly mostInside: number;
  /** seats whose worker waits for a turn now */
  readonly waiting: number;
  /** some seat holds the turn now */
  readonly held: boolean;
}

export function createCpuTurns(options: { exclusive?: boolean; seats?: number } = {}): CpuTurns {
  const seats = options.seats ?? DEFAULT_SEATS;
  const exclusive = options.exclusive ?? true;
  const buffer = new SharedArrayBuffer(HEADER_WORDS * 4 + seats * (SEAT_WORDS * 4 + SEAT_CLOCKS * 8));
  const { words, clocks } = views(buffer);
  const taken = new Array<boolean>(seats).fill(false);
  return {
    exclusive,
    join() {
      const index = taken.indexOf(false);
      if (index < 0) throw new Error(`all ${seats} CPU turn seats are taken (one per running worker)`);
      taken[index] = true;
      Atomics.store(words, seatWord(index, WAITING), 0);
      Atomics.store(words, seatWord(index, TURNS), 0);
      Atomics.store(clocks, index * SEAT_CLOCKS, 0n);
      Atomics.store(clocks, index * SEAT_CLOCKS + 1, 0n);
      return { buffer, index, exclusive };
    },
    leave(seat) {
      if (!taken[seat.index]) return;
      taken[seat.index] = false;
      Atomics.store(words, seatWord(seat.index, WAITING), 0);
      // a worker killed mid-forward never decremented INSIDE; its turn was the only one inside
      if (Atomics.compareExchange(words, OWNER, seat.index + 1, 0) === seat.index + 1 && exclusive) {
        Atomics.store(words, INSIDE, 0);
      }
      Atomics.add(words, VERSION, 1);
      Atomics.notify(words, VERSION);
    },
    stats(seat) {
      return {
        turns: Atomics.load(words, seatWord(seat.index, TURNS)),
        waitMs: Number(Atomics.load(clocks, seat.index * SEAT_CLOCKS)) / 1e6,
        heldMs: Number(Atomics.load(clocks, seat.index * SEAT_CLOCKS + 1)) / 1e6,
      };
    },
    get inside() {
      return Atomics.load(words, INSIDE);
    },
    get mostInside() {
      return Atomics.load(words, MOST_INSIDE);
    },
    get held() {
      return Atomics.load(words, OWNER) !== 0;
    },
    get waiting() {
      let n = 0;
      for (let i = 0; i < seats; i++) n += Atomics.load(words, seatWord(i, WAITING));
      return n;
    },
  };
}

const nowNs = () => process.hrtime.bigint();

/** `Atomics.waitAsync` (Node 20; newer than the project's TypeScript lib) */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: "not-equal" | "timed-out" } | { async: true; value: Promise<"ok" | "timed-out"> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** A worker's side of its seat: runs calls one at a time, each inside a turn. */
export class CpuTurnTaker {
  private readonly words: Int32Array;
  private readonly clocks: BigInt64Array;
  private readonly seats: number;
  /** this worker's callers queue here, so the worker holds at most one ticket */
  private tail: Promise<void> = Promise.resolve();

  /** `beforeRelease` runs at the end of each turn, e.g. to put the engine's spinning threads to sleep */
  constructor(
    private readonly seat: CpuTurnSeat,
    private readonly beforeRelease?: () => void,
  ) {
    ({ words: this.words, clocks: this.clocks, seats: this.seats } = views(seat.buffer));
  }

  /** Runs `work` inside a turn (FIFO behind this worker's earlier callers); the turn is released however `work` ends. */
  async run<T>(work: () => T | Promise<T>): Promise<T> {
    const before = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await before;
      const asked = nowNs();
      if (this.seat.exclusive) await this.acquire();
      const got = nowNs();
      this.enter();
      try {
        return await work();
      } finally {
        this.exit();
        if (this.seat.exclusive) {
          try {
            this.beforeRelease?.();
          } finally {
            this.release();
          }
        }
        const { index } = this.seat;
        Atomics.add(this.clocks, index * SEAT_CLOCKS, got - asked);
        Atomics.add(this.clocks, index * SEAT_CLOCKS + 1, nowNs() - got);
        Atomics.add(this.words, seatWord(index, TURNS), 1);
      }
    } finally {
      done();
    }
  }

  private async acquire(): Promise<void> {
    const { words } = this;
    const me = this.seat.index;
    const ticket = Atomics.add(words, NEXT_TICKET, 1);
    Atomics.store(words, seatWord(me, TICKET), ticket);
    Atomics.store(words, seatWord(me, WAITING), 1);
    for (;;) {
      const version = Atomics.load(words, VERSION);
      if (Atomics.load(words, OWNER) === 0 && this.first(ticket)) {
        if (Atomics.compareExchange(words, OWNER, 0, me + 1) === 0) {
          Atomics.store(words, seatWord(me, WAITING), 0);
          return;
        }
      }
      const wait = waitAsync(words, VERSION, version);
      if (wait.async) await wait.value;
    }
  }

  /** No other waiting seat holds an earlier ticket (tickets wrap: compared by signed difference). */
  private first(ticket: number): boolean {
    const { words } = this;
    for (let i = 0; i < this.seats; i++) {
      if (i === this.seat.index || Atomics.load(words, seatWord(i, WAITING)) === 0) continue;
      if (((Atomics.load(words, seatWord(i, TICKET)) - ticket) | 0) < 0) return false;
    }
    return true;
  }

  private release(): void {
    Atomics.compareExchange(this.words, OWNER, this.seat.index + 1, 0);
    Atomics.add(this.words, VERSION, 1);
    Atomics.notify(this.words, VERSION);
  }

  private enter(): void {
    const inside = Atomics.add(this.words, INSIDE, 1) + 1;
    for (
      let most = Atomics.load(this.words, MOST_INSIDE);
      inside > most;
      most = Atomics.load(this.words, MOST_INSIDE)
    ) {
      if (Atomics.compareExchange(this.words, MOST_INSIDE, most, inside) === most) break;
    }
  }

  private exit(): void {
    Atomics.sub(this.words, INSIDE, 1);
  }
}
