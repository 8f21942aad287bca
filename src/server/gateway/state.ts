/**
 * The router's mutable inputs, owned here: per variant, its measured rates and circuit breaker,
 * combined with the worker's live counters into the `VariantState` the pure router reads.
 */
import {
  type BreakerConfig,
  type BreakerState,
  beginAttempt,
  CLOSED_BREAKER,
  DEFAULT_BREAKER_CONFIG,
  type LiveRates,
  type RateObservation,
  recordFailure,
  recordSuccess,
  seedRates,
  updateRates,
  type VariantState,
} from "../../../router/index.js";
import type { Logger } from "../log.js";
import type { ServedVariant } from "../types.js";

/** How long a variant that is still loading looks "open" to the router. */
const LOADING_RETRY_MS = 1000;

interface Entry {
  readonly served: ServedVariant;
  rates: LiveRates;
  breaker: BreakerState;
}

export class VariantStates {
  private readonly entries = new Map<string, Entry>();
  /** the configured variants do not change, so neither do their families (read on every request) */
  private readonly familyNames: readonly string[];

  constructor(
    variants: readonly ServedVariant[],
    private readonly breakerConfig: BreakerConfig = DEFAULT_BREAKER_CONFIG,
    private readonly alpha = 0.2,
    private readonly log?: Logger,
  ) {
    for (const served of variants) {
      this.entries.set(served.config.name, { served, rates: seedRates(served.config.card), breaker: CLOSED_BREAKER });
    }
    this.familyNames = [...new Set(variants.map((v) => v.config.family))];
  }

  get(name: string): ServedVariant | undefined {
    return this.entries.get(name)?.served;
  }

  all(): ServedVariant[] {
    return [...this.entries.values()].map((e) => e.served);
  }

  families(): readonly string[] {
    return this.familyNames;
  }

  /**
   * The router's view of one family's variants at `now`, for a request of `priority`: `waiting` is
   * what it would wait behind (the pool serves higher priorities first), so a premium request is not
   * refused for a queue of lower-priority work it would overtake.
   */
  snapshot(family: string, now: number, priority?: number): VariantState[] {
    const out: VariantState[] = [];
    for (const e of this.entries.values()) {
      const { config, worker } = e.served;
      if (config.family !== family) continue;
      out.push({
        name: config.name,
        family: config.family,
        engine: config.engine,
        quality: config.quality,
        card: config.card,
        rates: e.rates,
        running: worker.running,
        waiting: priority === undefined ? worker.waiting : (worker.waitingAtOrAbove?.(priority) ?? worker.waiting),
        slots: worker.slots,
        breaker: this.effectiveBreaker(e, now),
        cost: config.cost,
      });
    }
    return out;
  }

  breaker(name: string, now: number): BreakerState | undefined {
    const e = this.entries.get(name);
    return e ? this.effectiveBreaker(e, now) : undefined;
  }

  /** Takes an attempt through the breaker; false when it refuses (or the worker cannot serve). */
  begin(name: string, now: number): boolean {
    const e = this.entries.get(name);
    if (e?.served.worker.state !== "ready") return false;
    const next = beginAttempt(e.breaker, now);
    e.breaker = next.breaker;
    return next.allowed;
  }

  /** Whether some ready variant's breaker would let a request through now (for `/health/ready`). */
  canServe(now: number): boolean {
    return [...this.entries.values()].some((e) => {
      const b = this.effectiveBreaker(e, now);
      return e.served.worker.state === "ready" && (b.state !== "open" || now >= b.retryAtMs);
    });
  }

  success(name: string, observation: RateObservation): void {
    const e = this.entries.get(name);
    if (!e) return;
    const before: BreakerState = e.breaker;
    const after = recordSuccess(before, this.breakerConfig);
    e.breaker = after;
    if (before.state !== "closed" && after.state === "closed") {
      this.log?.info(`breaker closed: variant ${name} answered its probe request`);
    }
    e.rates = updateRates(e.rates, observation, this.alpha);
  }

  /** Ends an attempt that says nothing about the variant's health (client error, cancel, full queue). */
  release(name: string): void {
    const e = this.entries.get(name);
    if (e && e.breaker.state === "half_open") e.breaker = { state: "half_open", probeInFlight: false };
  }

  /** An engine fault on `name` (only those: client errors, cancels and full queues go through `release`). */
  failure(name: string, now: number, cause: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    const before = e.breaker;
    e.breaker = recordFailure(before, this.breakerConfig, now);
    this.log?.warn(`engine failure on variant ${name}: ${cause}`);
    if (before.state !== "open" && e.breaker.state === "open") {
      const after = before.state === "half_open" ? "its probe request failed" : tripReason(before, this.breakerConfig);
      const seconds = Math.round(this.breakerConfig.cooldownMs / 1000);
      this.log?.warn(`breaker opened: variant ${name} (${after}; last: ${cause}); retried in ${seconds} s`);
    }
  }

  /** A worker that is loading, failed or closed reads as an open breaker, so the router skips it. */
  private effectiveBreaker(e: Entry, now: number): BreakerState {
    const state = e.served.worker.state;
    if (state === "ready") return e.breaker;
    const retryAtMs = state === "loading" ? now + LOADING_RETRY_MS : Number.MAX_SAFE_INTEGER;
    return { state: "open", openedAtMs: now, retryAtMs };
  }
}

function tripReason(before: BreakerState & { state: "closed" }, config: BreakerConfig): string {
  const row = before.consecutiveFailures + 1;
  if (row >= config.consecutiveFailures) return `${row} failures in a row`;
  const window = [...before.window, true].slice(-Math.max(1, config.windowSize));
  return `${window.filter((f) => f).length} of the last ${window.length} requests failed`;
}
