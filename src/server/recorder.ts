/**
 * The decision recorder: the request path only enqueues a request row and its decision
 * row. `MemoryRecorder`, a bounded in-memory ring buffer, keeps the latest ones for the admin endpoint;
 * the database recorder (`src/db/recorder.ts`) writes every one of them to Postgres or PGlite.
 */
import type { RequestInsert, RoutingDecisionInsert } from "../db/schema.js";

/** One row per request: the `requests` table's insert type (`src/db/schema.ts`). */
export type RequestRow = Readonly<RequestInsert>;

/**
 * One row per routed request: the `routing_decisions` table's insert type. `createdAt` may be left
 * out; a recorder gives it its request's, so both land in the same day's partition.
 */
export type DecisionRow = Readonly<RoutingDecisionInsert>;

export interface DecisionRecorder {
  enqueue(request: RequestRow, decision: DecisionRow | null): void;
}

export interface RecordedEntry {
  readonly request: RequestRow;
  readonly decision: DecisionRow | null;
}

/** Keeps the latest `capacity` entries; the oldest are overwritten. */
export class MemoryRecorder implements DecisionRecorder {
  private readonly ring: (RecordedEntry | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 1000) {
    this.ring = new Array<RecordedEntry | undefined>(Math.max(1, capacity));
  }

  enqueue(request: RequestRow, decision: DecisionRow | null): void {
    this.ring[this.next] = { request, decision };
    this.next = (this.next + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
  }

  get size(): number {
    return this.count;
  }

  /** Newest first. */
  latest(limit = this.count): RecordedEntry[] {
    const out: RecordedEntry[] = [];
    for (let i = 1; i <= Math.min(limit, this.count); i++) {
      const entry = this.ring[(this.next - i + this.ring.length) % this.ring.length];
      if (entry) out.push(entry);
    }
    return out;
  }
}
