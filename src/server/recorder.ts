/**
 * The decision recorder: the request path only enqueues a request row and its decision
 * row. Until the database recorder lands, a bounded in-memory ring buffer keeps the latest ones for
 * the admin endpoint.
 */
import type { Candidate, ReasonCode, Strategy } from "../../router/index.js";

export interface RequestRow {
  readonly requestId: string;
  readonly createdAt: string;
  readonly endpoint: string;
  readonly tenantId: string;
  readonly keyId: string;
  readonly tier: string;
  /** the model the client asked for */
  readonly model: string;
  /** the variant that answered (null when none did) */
  readonly variant: string | null;
  readonly status: number;
  readonly stream: boolean;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly queueMs: number | null;
  readonly ttftMs: number | null;
  readonly totalMs: number;
  readonly cpuMs: number | null;
  readonly energyJ: number | null;
  readonly cost: number | null;
  readonly price: number | null;
  readonly counterfactualCost: number | null;
  readonly cacheHit: boolean;
  readonly degraded: boolean;
  readonly errorCode: string | null;
}

export interface DecisionRow {
  readonly decisionId: string;
  readonly requestId: string;
  readonly strategy: Strategy;
  readonly qualityNeed: number;
  readonly sla: { readonly ttftMs: number; readonly totalMs: number };
  /** running / waiting per variant when the decision was made */
  readonly load: Readonly<Record<string, { readonly running: number; readonly waiting: number }>>;
  readonly candidates: readonly Candidate[];
  readonly chosen: string | null;
  readonly reason: ReasonCode;
  /** the variants actually tried, in order (the first that succeeded is last) */
  readonly fallbackChain: readonly string[];
  readonly degraded: boolean;
}

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
