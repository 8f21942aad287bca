/**
 * A pure circuit-breaker state machine, one per variant. The caller owns the state value and the clock:
 * every transition takes the current state and `now` (ms) and returns the next state.
 *
 *   closed ──(N consecutive failures, or failure rate over the window)──▶ open
 *   open ──(now ≥ retryAtMs, on the next attempt)──▶ half_open (one probe in flight)
 *   half_open ──success──▶ closed          half_open ──failure──▶ open (a fresh cool-down)
 */

export interface BreakerConfig {
  /** Consecutive failures that open a closed breaker. */
  readonly consecutiveFailures: number;
  /** Failure fraction over the last `windowSize` outcomes that opens the breaker (once `minSamples` are seen). */
  readonly failureRate: number;
  readonly windowSize: number;
  readonly minSamples: number;
  /** How long an opened breaker refuses attempts before it lets one probe through. */
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER_CONFIG: BreakerConfig = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  windowSize: 20,
  minSamples: 10,
  cooldownMs: 30_000,
};

export type BreakerState =
  | {
      readonly state: "closed";
      readonly consecutiveFailures: number;
      /** The most recent outcomes, oldest first, at most `windowSize` of them; true = failure. */
      readonly window: readonly boolean[];
    }
  | { readonly state: "open"; readonly openedAtMs: number; readonly retryAtMs: number }
  | { readonly state: "half_open"; readonly probeInFlight: boolean };

export const CLOSED_BREAKER: BreakerState = { state: "closed", consecutiveFailures: 0, window: [] };

/** Whether a request may be sent now: closed, an open breaker whose cool-down has passed, or a free half-open probe. */
export function allowsAttempt(breaker: BreakerState, now: number): boolean {
  switch (breaker.state) {
    case "closed":
      return true;
    case "open":
      return now >= breaker.retryAtMs;
    case "half_open":
      return !breaker.probeInFlight;
  }
}

/**
 * The state after the caller starts an attempt at `now`. An open breaker past its cool-down becomes half-open
 * with the probe in flight; a half-open breaker takes the probe slot. Refused attempts leave the state unchanged.
 */
export function beginAttempt(breaker: BreakerState, now: number): { allowed: boolean; breaker: BreakerState } {
  if (!allowsAttempt(breaker, now)) return { allowed: false, breaker };
  if (breaker.state === "closed") return { allowed: true, breaker };
  return { allowed: true, breaker: { state: "half_open", probeInFlight: true } };
}

export function recordSuccess(breaker: BreakerState, config: BreakerConfig): BreakerState {
  switch (breaker.state) {
    case "closed":
      return { state: "closed", consecutiveFailures: 0, window: pushOutcome(breaker.window, false, config) };
    case "half_open":
      return CLOSED_BREAKER;
    case "open":
      // a late success from before the breaker opened does not close it: only a probe can
      return breaker;
  }
}

export function recordFailure(breaker: BreakerState, config: BreakerConfig, now: number): BreakerState {
  switch (breaker.state) {
    case "closed": {
      const consecutiveFailures = breaker.consecutiveFailures + 1;
      const window = pushOutcome(breaker.window, true, config);
      const failures = window.filter((f) => f).length;
      const rateTripped =
        window.length >= Math.max(1, config.minSamples) && failures / window.length >= config.failureRate;
      if (consecutiveFailures >= config.consecutiveFailures || rateTripped) return open(now, config);
      return { state: "closed", consecutiveFailures, window };
    }
    case "half_open":
      return open(now, config);
    case "open":
      return breaker;
  }
}

/** Seconds until the breaker lets a probe through (0 when it already would), for `retry-after`. */
export function secondsUntilRetry(breaker: BreakerState, now: number): number {
  if (breaker.state !== "open") return 0;
  return Math.max(0, Math.ceil((breaker.retryAtMs - now) / 1000));
}

function open(now: number, config: BreakerConfig): BreakerState {
  return { state: "open", openedAtMs: now, retryAtMs: now + Math.max(0, config.cooldownMs) };
}

function pushOutcome(window: readonly boolean[], failure: boolean, config: BreakerConfig): readonly boolean[] {
  const size = Math.max(1, Math.floor(config.windowSize));
  const next = [...window, failure];
  return next.length > size ? next.slice(next.length - size) : next;
}
