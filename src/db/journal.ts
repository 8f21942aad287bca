/**
 * The recorder's journal, JSON lines on disk, so that neither an outage nor a crash of the gateway
 * loses a row:
 * - `wal-<n>.ndjson`: every enqueued row, written (into the kernel's page cache, which outlives the
 *   process) as it is enqueued; a segment is deleted once its rows are committed, and sealed when they
 *   could not be. A segment found at start is what a crashed process left: it is replayed.
 * - `active.ndjson` takes fsync'd appends (`append`); `seal()` moves it aside for replay.
 * - `sealed-*.ndjson` await replay; `rejected.ndjson` holds rows the database refused for what they
 *   contain (not for being unreachable), kept for a person to look at, never retried automatically.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from "node:fs";
import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { RecordEntry } from "./entry.js";

const ACTIVE = "active.ndjson";
const REJECTED = "rejected.ndjson";
// `<ms>-<seq>` orders replay; the tag keeps two journals on one directory (the gateway's thread and its
// flusher thread) from ever picking the same name
const SEALED = /^sealed-(\d+)-(\d+)(?:-[0-9a-z]+)?\.ndjson$/;
const WAL = /^wal-(\d+)\.ndjson$/;

export interface JournalRead {
  readonly entries: RecordEntry[];
  /** lines that did not parse: a torn last write from a crash mid-append */
  readonly torn: number;
}

export class Journal {
  private chain: Promise<unknown> = Promise.resolve();
  private active: FileHandle | undefined;
  private activeRows = 0;
  private seq = 0;
  private wal: { readonly fd: number; readonly path: string; rows: number } | undefined;
  private walSeq = Date.now();
  private pending = "";
  private pendingRows = 0;
  private writeScheduled = false;
  private readonly tag = Math.random().toString(36).slice(2, 8);

  /**
   * `onWriteError` hears of rows a segment write lost, with their lines (the caller still has them to
   * write from memory). `adoptSegments: false` for a journal that only replays (the flusher thread's):
   * the `wal-*` segments in the directory are then another journal's live ones, not leftovers.
   */
  constructor(
    readonly dir: string,
    private readonly onWriteError: (error: Error, rows: number, lines: string) => void = () => undefined,
    options: { readonly adoptSegments?: boolean } = {},
  ) {
    mkdirSync(dir, { recursive: true });
    // segments a previous process left (it crashed, or was killed, before committing them)
    if (options.adoptSegments !== false) this.sealAbandoned();
  }

  /** Seals every `wal-*` segment but the one being written: what a dead process (or flusher thread) left. */
  sealAbandoned(): void {
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (WAL.test(name) && path !== this.wal?.path) this.sealSync(path);
    }
  }

  /** Rows in the current segment (written, or to be written at the end of this turn). */
  get segmentRows(): number {
    return (this.wal?.rows ?? 0) + this.pendingRows;
  }

  /**
   * Adds one row to the current segment. The rows of one event-loop turn go out in one synchronous
   * write at the end of the turn (`process.nextTick`), into the page cache: from then on they survive
   * the process being killed (not a power cut: segments are fsync'd when sealed, not per row).
   */
  write(entry: RecordEntry): void {
    this.pending += `${JSON.stringify(entry)}\n`;
    this.pendingRows += 1;
    if (!this.writeScheduled) {
      this.writeScheduled = true;
      process.nextTick(() => this.writePending());
    }
  }

  /** Writes what `write` buffered; lines the disk refuses go to `onWriteError` (never thrown: this runs on the request path). */
  writePending(): void {
    this.writeScheduled = false;
    if (this.pending === "") return;
    const text = this.pending;
    const rows = this.pendingRows;
    this.pending = "";
    this.pendingRows = 0;
    let wal = this.wal;
    try {
      if (!wal) {
        const path = join(this.dir, `wal-${this.walSeq++}.ndjson`);
        wal = { fd: openSync(path, "a"), path, rows: 0 };
        this.wal = wal;
      }
      writeSync(wal.fd, text);
    } catch (e) {
      this.onWriteError(e as Error, rows, text);
      return;
    }
    wal.rows += rows;
  }

  /** Closes the current segment (the rows written since the last rotate): its path and rows, if it has any. */
  rotate(): { readonly path: string; readonly rows: number } | undefined {
    this.writePending();
    const wal = this.wal;
    if (!wal) return undefined;
    this.wal = undefined;
    closeSync(wal.fd);
    return { path: wal.path, rows: wal.rows };
  }

  /** A segment whose rows are all committed. */
  discard(segment: string): Promise<void> {
    return unlink(segment).catch(() => undefined);
  }

  /** A segment whose rows could not be written: fsync'd and queued for replay. */
  async sealSegment(segment: string): Promise<void> {
    const handle = await open(segment, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(segment, join(this.dir, `sealed-${Date.now()}-${this.seq++}-${this.tag}.ndjson`));
  }

  /** `sealSegment`, synchronously (at start and close). */
  sealSync(segment: string): void {
    const fd = openSync(segment, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(segment, join(this.dir, `sealed-${Date.now()}-${this.seq++}-${this.tag}.ndjson`));
  }

  /** Appends and fsyncs; resolves once the rows are on disk. Calls are applied in order. */
  append(entries: readonly RecordEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    let text = "";
    for (const e of entries) text += `${JSON.stringify(e)}\n`;
    // counted at once: a replay started now must wait for (and include) these rows
    this.activeRows += entries.length;
    return this.serial(async () => {
      this.active ??= await open(join(this.dir, ACTIVE), "a");
      await this.active.write(text);
      await this.active.sync();
    });
  }

  /** Rows the database refused for their content, with the reason. */
  reject(entries: readonly RecordEntry[], reason: string): Promise<void> {
    let text = "";
    for (const e of entries) text += `${JSON.stringify({ ...e, reason })}\n`;
    return this.serial(async () => {
      const handle = await open(join(this.dir, REJECTED), "a");
      try {
        await handle.write(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /** Moves the active file aside (after the appends before this call) and lists every sealed file, oldest first. */
  seal(): Promise<string[]> {
    return this.serial(async () => {
      if (this.active) {
        await this.active.close();
        this.active = undefined;
      }
      const names = readdirSync(this.dir);
      if (names.includes(ACTIVE)) {
        await rename(join(this.dir, ACTIVE), join(this.dir, `sealed-${Date.now()}-${this.seq++}-${this.tag}.ndjson`));
        this.activeRows = 0;
      }
      return readdirSync(this.dir)
        .filter((n) => SEALED.test(n))
        .sort((a, b) => {
          const [, at, as] = SEALED.exec(a) ?? [];
          const [, bt, bs] = SEALED.exec(b) ?? [];
          return Number(at) - Number(bt) || Number(as) - Number(bs);
        })
        .map((n) => join(this.dir, n));
    });
  }

  /** Whether anything awaits replay (an active file with rows, or a sealed one). */
  hasPending(): boolean {
    if (this.activeRows > 0) return true;
    try {
      return readdirSync(this.dir).some((n) => n === ACTIVE || SEALED.test(n));
    } catch {
      return false; // the directory is gone: nothing in it to replay
    }
  }

  async read(file: string): Promise<JournalRead> {
    return parseLines(await readFile(file, "utf8"));
  }

  /** Removes a sealed file once all its rows are in the database. */
  remove(file: string): Promise<void> {
    return this.serial(() => unlink(file));
  }

  /** Waits for pending appends and closes the files (an open segment is sealed). */
  close(): Promise<void> {
    const segment = this.rotate();
    if (segment) this.sealSync(segment.path);
    return this.serial(async () => {
      await this.active?.close();
      this.active = undefined;
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** Journal lines (as `write` makes them) back into entries; a line that does not parse is counted as torn. */
export function parseLines(text: string): JournalRead {
  const entries: RecordEntry[] = [];
  let torn = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      entries.push(JSON.parse(line) as RecordEntry);
    } catch {
      torn += 1;
    }
  }
  return { entries, torn };
}
