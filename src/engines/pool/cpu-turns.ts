/**
 * One CPU budget for every engine in the process: the machine's cores, shared by the variants'
 * worker threads, of which each forward call holds as many as its engine runs threads (a turn).
 * The kernels' pool and onnxruntime's intra-op threads are sized by one setting (`threads`,
 * default: all the cores), so two engines computing at once would run 2x the threads on the cores
 * and both slow down (spinning pool threads make it worse than 2x); with turns, engines whose
 * threads fill the cores compute one at a time, and engines whose threads fit together (`threads:
 * 1` on 2 cores) compute at once, as a static split would.
 *
 * State lives in a SharedArrayBuffer that the pool creates once (`createCpuTurns`) and hands to each
 * worker in its `WorkerInit` (`CpuTurnSeat`). Turns are granted in ticket order across workers
 * (FIFO: a worker that just released cannot take the next turn ahead of one already waiting), and
 * one worker's own callers queue FIFO in front of its single ticket. Waiting is `Atomics.waitAsync`,
 * so a waiting worker's event loop still runs (cancel messages are seen). A worker that dies holding
 * or waiting for a turn is cleared from the main thread (`leave`), so the others never wait on it.
 */

/** Int32 header words. */
const FREE = 0; // cores no turn holds now
const NEXT_TICKET = 1;
const VERSION = 2; // bumped and notified on every release; waiters sleep on it
const INSIDE = 3; // forward calls running now, across all seats (counted in both modes)
const MOST_INSIDE = 4; // the most ever running at once
const BUDGET = 5; // cores in all
const HEADER_WORDS = 8;
/** Int32 words per seat: waiting (0/1), ticket, turns taken, cores held now. */
const SEAT_WORDS = 4;
/** BigInt64 words per seat: nanoseconds waited for turns, nanoseconds holding them. */
const SEAT_CLOCKS = 2;
const DEFAULT_SEATS = 64;

/** What a worker is handed in its `WorkerInit`: plain data that crosses postMessage (the buffer is shared, not copied). */
export interface CpuTurnSeat {
  readonly buffer: SharedArrayBuffer;
  readonly index: number;
  /** cores a turn of this seat takes: its engine's threads (at most the budget) */
  readonly cores: number;
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

const seatWord = (index: number, field: 0 | 1 | 2 | 3) => HEADER_WORDS + index * SEAT_WORDS + field;
const WAITING = 0;
const TICKET = 1;
const TURNS = 2;
const HELD = 3;

/** The main thread's side: seats for workers, their totals, and the test counters. */
export interface CpuTurns {
  readonly exclusive: boolean;
  /** cores in the budget */
  readonly cores: number;
  /** a seat for a new worker whose engine runs `threads` threads (default: the whole budget); throws when every seat is taken */
  join(threads?: number): CpuTurnSeat;
  /** the worker of `seat` is gone: drop its ticket and any turn it held, wake the others */
  leave(seat: CpuTurnSeat): void;
  stats(seat: CpuTurnSeat): CpuTurnStats;
  /** forward calls running right now, and the most that ever ran at once (1 while each turn takes every core) */
  readonly inside: number;
  readonly mostInside: number;
  /** seats whose worker waits for a turn now */
  readonly waiting: number;
  /** some seat holds a turn now */
  readonly held: boolean;
}

export function createCpuTurns(options: { cores: number; exclusive?: boolean; seats?: number }): CpuTurns {
  const seats = options.seats ?? DEFAULT_SEATS;
  const exclusive = options.exclusive ?? true;
  const cores = Math.max(1, Math.floor(options.cores));
  const buffer = new SharedArrayBuffer(HEADER_WORDS * 4 + seats * (SEAT_WORDS * 4 + SEAT_CLOCKS * 8));
  const { words, clocks } = views(buffer);
  Atomics.store(words, FREE, cores);
  Atomics.store(words, BUDGET, cores);
  const taken = new Array<boolean>(seats).fill(false);
  return {
    exclusive,
    cores,
    join(threads) {
      const index = taken.indexOf(false);
      if (index < 0) throw new Error(`all ${seats} CPU turn seats are taken (one per running worker)`);
      taken[index] = true;
      Atomics.store(words, seatWord(index, WAITING), 0);
      Atomics.store(words, seatWord(index, TURNS), 0);
      Atomics.store(clocks, index * SEAT_CLOCKS, 0n);
      Atomics.store(clocks, index * SEAT_CLOCKS + 1, 0n);
      const wanted = threads === undefined ? cores : Math.max(1, Math.floor(threads));
      return { buffer, index, cores: Math.min(cores, wanted), exclusive };
    },
    leave(seat) {
      if (!taken[seat.index]) return;
      taken[seat.index] = false;
      Atomics.store(words, seatWord(seat.index, WAITING), 0);
      const held = Atomics.exchange(words, seatWord(seat.index, HELD), 0);
      if (held > 0) {
        // a worker killed mid-forward never gave its cores back, nor left INSIDE
        Atomics.add(words, FREE, held);
        Atomics.sub(words, INSIDE, 1);
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
      return Atomics.load(words, FREE) < cores;
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
      // strictly in ticket order: the first waiter takes its cores once they are free, and nobody
      // behind it goes ahead (a turn that needs every core is not starved by smaller ones)
      const free = Atomics.load(words, FREE);
      if (free >= this.seat.cores && this.first(ticket)) {
        if (Atomics.compareExchange(words, FREE, free, free - this.seat.cores) === free) {
          Atomics.store(words, seatWord(me, HELD), this.seat.cores);
          Atomics.store(words, seatWord(me, WAITING), 0);
          return;
        }
        continue; // another seat's cores came back meanwhile: look again
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
    const held = Atomics.exchange(this.words, seatWord(this.seat.index, HELD), 0);
    Atomics.add(this.words, FREE, held);
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
