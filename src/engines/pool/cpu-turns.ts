/**
 * One CPU budget for every engine in the process: the machine's cores (the one `threads` setting,
 * default: physical cores), shared by the variants' worker threads, so engines never run more busy
 * threads than there are cores. A seat is one worker's share; how it holds cores depends on its engine:
 *
 * - an ONNX session's intra-op threads are fixed when it is created, so its seat holds that many cores
 *   as a **lease** from its first forward call until the worker has nothing running (`idle`): it never
 *   waits between steps in the steady state. It gives the lease back after a call when another seat is
 *   waiting for cores, so seats that do not fit together fall back to taking turns.
 * - the kernels' pool (BitNet) can run a job on fewer threads than it has, so its seat is **elastic**:
 *   each forward call takes whatever is free (at least 1 core, at most its threads) and tells the pool
 *   (`onGrant`, `setActiveThreads`). Beside a busy ONNX variant it computes on the rest of the cores
 *   at once, with no handoff; alone it gets every core.
 * - a plain seat (neither) holds its cores for each forward call (a turn).
 *
 * The arithmetic is `cpu-budget.ts`. State lives in a SharedArrayBuffer that the pool creates once
 * (`createCpuTurns`) and hands to each worker in its `WorkerInit` (`CpuTurnSeat`). Cores are granted in
 * ticket order across workers (what the seats waiting with earlier tickets need is not taken by later
 * ones), and one worker's own callers queue FIFO in front of its single ticket. Waiting is
 * `Atomics.waitAsync`, so a waiting worker's event loop still runs (cancel messages are seen). A worker
 * that dies holding or waiting for cores is cleared from the main thread (`leave`), so the others never
 * wait on it.
 */
import { coresWanted, grantCores } from "./cpu-budget.js";

/** Int32 header words. */
const FREE = 0; // cores no turn holds now
const NEXT_TICKET = 1;
const VERSION = 2; // bumped and notified on every release; waiters sleep on it
const INSIDE = 3; // forward calls running now, across all seats (counted in both modes)
const MOST_INSIDE = 4; // the most ever running at once
const BUDGET = 5; // cores in all
const MOST_HELD = 6; // the most cores ever held at once (never above BUDGET: the tests' witness)
const HEADER_WORDS = 8;
/** Int32 words per seat: waiting (0/1), ticket, forward calls made, cores held now, cores wanted while waiting, cores of the latest call, in a call now (0/1), work in flight (0/1). */
const SEAT_WORDS = 8;
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

/** How a worker's taker holds its seat's cores (see the file's comment); unset: per call, all `cores`. */
export interface CpuTurnOptions {
  /** runs at the end of each hold, e.g. to put the engine's spinning threads to sleep */
  readonly beforeRelease?: () => void;
  /** the seat is elastic: each call gets what is free, at least 1 and at most `cores`, and is told it here first */
  readonly onGrant?: (cores: number) => void;
  /** hold the cores from the first call until `idle()` (or until another seat waits) */
  readonly lease?: boolean;
}

/** One seat's totals since it joined. */
export interface CpuTurnStats {
  /** forward calls made */
  readonly turns: number;
  /** milliseconds waited for cores */
  readonly waitMs: number;
  /** milliseconds inside forward calls */
  readonly heldMs: number;
  /** cores the latest forward call ran on (0 before the first) */
  readonly cores: number;
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

const seatWord = (index: number, field: number) => HEADER_WORDS + index * SEAT_WORDS + field;
const WAITING = 0;
const TICKET = 1;
const TURNS = 2;
const HELD = 3;
const WANT = 4;
const CORES = 5;
const INSIDE_SEAT = 6;
const BUSY = 7;

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
  /** cores the seats hold now (leases and calls), and the most they ever held at once (at most `cores`) */
  readonly coresHeld: number;
  readonly mostCoresHeld: number;
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
      Atomics.store(words, seatWord(index, CORES), 0);
      Atomics.store(words, seatWord(index, BUSY), 0);
      Atomics.store(clocks, index * SEAT_CLOCKS, 0n);
      Atomics.store(clocks, index * SEAT_CLOCKS + 1, 0n);
      const wanted = threads === undefined ? cores : Math.max(1, Math.floor(threads));
      return { buffer, index, cores: Math.min(cores, wanted), exclusive };
    },
    leave(seat) {
      if (!taken[seat.index]) return;
      taken[seat.index] = false;
      Atomics.store(words, seatWord(seat.index, WAITING), 0);
      Atomics.store(words, seatWord(seat.index, BUSY), 0);
      const held = Atomics.exchange(words, seatWord(seat.index, HELD), 0);
      // a worker killed mid-forward never gave its cores back (a lease's too), nor left INSIDE
      if (held > 0) Atomics.add(words, FREE, held);
      const inCall = Atomics.exchange(words, seatWord(seat.index, INSIDE_SEAT), 0);
      if (inCall > 0) Atomics.sub(words, INSIDE, inCall);
      Atomics.add(words, VERSION, 1);
      Atomics.notify(words, VERSION);
    },
    stats(seat) {
      return {
        turns: Atomics.load(words, seatWord(seat.index, TURNS)),
        waitMs: Number(Atomics.load(clocks, seat.index * SEAT_CLOCKS)) / 1e6,
        heldMs: Number(Atomics.load(clocks, seat.index * SEAT_CLOCKS + 1)) / 1e6,
        cores: Atomics.load(words, seatWord(seat.index, CORES)),
      };
    },
    get coresHeld() {
      return cores - Atomics.load(words, FREE);
    },
    get mostCoresHeld() {
      return Atomics.load(words, MOST_HELD);
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

/** A worker's side of its seat: runs calls one at a time, each on cores of the budget. */
export class CpuTurnTaker {
  private readonly words: Int32Array;
  private readonly clocks: BigInt64Array;
  private readonly seats: number;
  private readonly options: CpuTurnOptions;
  /** this worker's callers queue here, so the worker holds at most one ticket */
  private tail: Promise<void> = Promise.resolve();
  private calling = false;
  /** idle() came during a call: give the lease back when it ends */
  private idleAfterCall = false;

  constructor(
    private readonly seat: CpuTurnSeat,
    options: CpuTurnOptions | (() => void) = {},
  ) {
    ({ words: this.words, clocks: this.clocks, seats: this.seats } = views(seat.buffer));
    this.options = typeof options === "function" ? { beforeRelease: options } : options;
  }

  private get shape() {
    return { cores: this.seat.cores, elastic: this.options.onGrant !== undefined };
  }

  /** Runs `work` on cores of the budget (FIFO behind this worker's earlier callers); a call's hold ends however `work` ends. */
  async run<T>(work: () => T | Promise<T>): Promise<T> {
    const before = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await before;
      const { index } = this.seat;
      // busy until idle(): elastic seats leave this one its core between its steps
      Atomics.store(this.words, seatWord(index, WANT), coresWanted(this.shape));
      Atomics.store(this.words, seatWord(index, BUSY), 1);
      const asked = nowNs();
      let cores = Atomics.load(this.words, seatWord(index, HELD));
      if (this.seat.exclusive && cores === 0) cores = await this.acquire();
      if (!this.seat.exclusive) cores = this.seat.cores;
      const got = nowNs();
      Atomics.store(this.words, seatWord(index, CORES), cores);
      if (this.seat.exclusive) this.options.onGrant?.(cores);
      this.enter();
      try {
        return await work();
      } finally {
        this.exit();
        if (this.seat.exclusive && (!this.options.lease || this.idleAfterCall || this.othersWaiting())) {
          this.idleAfterCall = false;
          this.giveBack();
        }
        Atomics.add(this.clocks, index * SEAT_CLOCKS, got - asked);
        Atomics.add(this.clocks, index * SEAT_CLOCKS + 1, nowNs() - got);
        Atomics.add(this.words, seatWord(index, TURNS), 1);
      }
    } finally {
      done();
    }
  }

  /** The worker has nothing running: a lease goes back to the budget (after the call in progress, if any). */
  idle(): void {
    Atomics.store(this.words, seatWord(this.seat.index, BUSY), 0);
    if (this.calling) {
      this.idleAfterCall = true;
      return;
    }
    if (Atomics.load(this.words, seatWord(this.seat.index, HELD)) > 0) this.giveBack();
  }

  private giveBack(): void {
    try {
      this.options.beforeRelease?.();
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<number> {
    const { words } = this;
    const me = this.seat.index;
    const shape = this.shape;
    const ticket = Atomics.add(words, NEXT_TICKET, 1);
    Atomics.store(words, seatWord(me, TICKET), ticket);
    Atomics.store(words, seatWord(me, WANT), coresWanted(shape));
    Atomics.store(words, seatWord(me, WAITING), 1);
    for (;;) {
      const version = Atomics.load(words, VERSION);
      const free = Atomics.load(words, FREE);
      const cores = grantCores(shape, free, this.wantedAhead(ticket), shape.elastic ? this.busyElsewhere(free) : 0);
      if (cores > 0) {
        if (Atomics.compareExchange(words, FREE, free, free - cores) === free) {
          Atomics.store(words, seatWord(me, HELD), cores);
          Atomics.store(words, seatWord(me, WAITING), 0);
          this.noteHeld(Atomics.load(words, BUDGET) - (free - cores));
          return cores;
        }
        continue; // another seat took or gave back cores meanwhile: look again
      }
      const wait = waitAsync(words, VERSION, version);
      if (wait.async) await wait.value;
    }
  }

  /** What the other waiting seats with earlier tickets need (tickets wrap: compared by signed difference). */
  private wantedAhead(ticket: number): number {
    const { words } = this;
    let wanted = 0;
    for (let i = 0; i < this.seats; i++) {
      if (i === this.seat.index || Atomics.load(words, seatWord(i, WAITING)) === 0) continue;
      if (((Atomics.load(words, seatWord(i, TICKET)) - ticket) | 0) < 0)
        wanted += Atomics.load(words, seatWord(i, WANT));
    }
    return wanted;
  }

  /**
   * What the other busy seats need that they neither hold nor wait for now (they are between steps),
   * counting only what fits beside this seat's own core out of `free`: a seat wanting more than that
   * could not run beside this one anyway, and leaving it cores would only leave them idle.
   */
  private busyElsewhere(free: number): number {
    const { words } = this;
    let room = free - 1;
    let wanted = 0;
    for (let i = 0; i < this.seats && room > 0; i++) {
      if (i === this.seat.index || Atomics.load(words, seatWord(i, BUSY)) === 0) continue;
      if (Atomics.load(words, seatWord(i, WAITING)) === 1 || Atomics.load(words, seatWord(i, HELD)) > 0) continue;
      const want = Atomics.load(words, seatWord(i, WANT));
      if (want > room) continue;
      wanted += want;
      room -= want;
    }
    return wanted;
  }

  private othersWaiting(): boolean {
    for (let i = 0; i < this.seats; i++) {
      if (i !== this.seat.index && Atomics.load(this.words, seatWord(i, WAITING)) === 1) return true;
    }
    return false;
  }

  private noteHeld(held: number): void {
    const { words } = this;
    for (let most = Atomics.load(words, MOST_HELD); held > most; most = Atomics.load(words, MOST_HELD)) {
      if (Atomics.compareExchange(words, MOST_HELD, most, held) === most) break;
    }
  }

  private release(): void {
    const held = Atomics.exchange(this.words, seatWord(this.seat.index, HELD), 0);
    if (held === 0) return;
    Atomics.add(this.words, FREE, held);
    Atomics.add(this.words, VERSION, 1);
    Atomics.notify(this.words, VERSION);
  }

  private enter(): void {
    this.calling = true;
    Atomics.store(this.words, seatWord(this.seat.index, INSIDE_SEAT), 1);
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
    this.calling = false;
    Atomics.store(this.words, seatWord(this.seat.index, INSIDE_SEAT), 0);
    Atomics.sub(this.words, INSIDE, 1);
  }
}
