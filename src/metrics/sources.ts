/**
 * What the gauges read when Prometheus scrapes: small interfaces over state that lives elsewhere (the
 * engine pool and breakers, the kernels, the recorder), so this folder imports nothing of the server's.
 */

export type BreakerStateName = "closed" | "half_open" | "open";

/** One variant's live state at scrape time. */
export interface VariantGaugeState {
  readonly variant: string;
  readonly engine: string;
  readonly running: number;
  readonly waiting: number;
  /** concurrent generations the worker runs at most */
  readonly slots: number;
  /**
   * sequences in the worker's latest batched step (0 when idle); null when the runtime does not say, and
   * then batch occupancy falls back to running / slots
   */
  readonly batchSize?: number | null;
  /** KV-cache tokens held by running generations; null when the engine does not report it */
  readonly kvTokens: number | null;
  /** bytes of the loaded model; null when unknown */
  readonly modelBytes: number | null;
  readonly breaker: BreakerStateName;
  /** the model is unloaded for idleness, or reloading for a request (the pool's `unloaded` / `reloading`) */
  readonly unloaded: boolean;
  /** forward calls that took a CPU turn, and the seconds they waited for it (monotonic); absent or null without turns */
  readonly cpuTurns?: number | null;
  readonly cpuTurnWaitSeconds?: number | null;
  /** cores the latest forward call ran on under the CPU budget; absent or null without it */
  readonly cpuCores?: number | null;
}

export interface VariantStateSource {
  variants(): readonly VariantGaugeState[];
}

/** The kernels' dispatch path and pool size (`kernels/index.ts` `hardware()`). */
export interface KernelInfoSource {
  kernels(): { readonly isa: string; readonly threads: number };
}

/**
 * Monotonic row counts since start and the rows waiting to be written, as a recorder reports them
 * (the field names of the PostgreSQL recorder's `stats()`, so it is a source as it is).
 */
export interface RecorderStats {
  readonly queueDepth: number;
  /** rows written to the store */
  readonly written: number;
  /** rows sent to the local journal while the store was unavailable */
  readonly spilled: number;
  /** journal rows written to the store later */
  readonly replayed: number;
  /** rows neither the store nor the journal took */
  readonly lost: number;
}

export interface RecorderStatsSource {
  stats(): RecorderStats;
}

/** The parts of a served variant the adapter below reads (structurally the server's `ServedVariant`). */
export interface ServedVariantLike {
  readonly config: { readonly name: string; readonly engine: string };
  readonly worker: {
    readonly state: string;
    readonly running: number;
    readonly waiting: number;
    readonly slots: number;
    /** the pool handle's `kvTokensInUse`; a runtime without it (a test wrapper) has no KV sample */
    readonly kvTokensInUse?: number;
    /** the pool handle's CPU budget totals (null or absent without a budget) */
    readonly cpuTurnStats?: { readonly turns: number; readonly waitMs: number; readonly cores?: number } | null;
    /** the pool handle's `batchSize` (latest batched step); null or absent: occupancy falls back to running */
    readonly batchSize?: number | null;
  };
}

export interface VariantSourceOptions {
  /** the breaker as the router sees it now (the server's `gateway.states.breaker(name, now)`) */
  readonly breaker: (variant: string) => { readonly state: BreakerStateName } | undefined;
  /** model bytes per variant, e.g. the model file's size */
  readonly modelBytes?: (variant: string) => number | null;
}

/** A VariantStateSource over the gateway's served variants. */
export function servedVariantSource(
  variants: readonly ServedVariantLike[],
  options: VariantSourceOptions,
): VariantStateSource {
  return {
    variants: () =>
      variants.map((v) => ({
        variant: v.config.name,
        engine: v.config.engine,
        running: v.worker.running,
        waiting: v.worker.waiting,
        slots: v.worker.slots,
        kvTokens: v.worker.kvTokensInUse ?? null,
        batchSize: v.worker.batchSize ?? null,
        modelBytes: options.modelBytes?.(v.config.name) ?? null,
        breaker: options.breaker(v.config.name)?.state ?? "open",
        unloaded: v.worker.state === "unloaded" || v.worker.state === "reloading",
        cpuTurns: v.worker.cpuTurnStats?.turns ?? null,
        cpuTurnWaitSeconds: v.worker.cpuTurnStats ? v.worker.cpuTurnStats.waitMs / 1000 : null,
        cpuCores: v.worker.cpuTurnStats?.cores ?? null,
      })),
  };
}
