import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allowsAttempt,
  type BreakerConfig,
  type BreakerState,
  beginAttempt,
  CLOSED_BREAKER,
  recordFailure,
  recordSuccess,
  secondsUntilRetry,
} from "./circuit.js";

const config: BreakerConfig = {
  consecutiveFailures: 3,
  failureRate: 0.5,
  windowSize: 10,
  minSamples: 6,
  cooldownMs: 10_000,
};

function fail(b: BreakerState, times: number, now = 0): BreakerState {
  let s = b;
  for (let k = 0; k < times; k++) s = recordFailure(s, config, now);
  return s;
}

describe("circuit breaker", () => {
  it("opens after N consecutive failures, not before", () => {
    expect(fail(CLOSED_BREAKER, 2).state).toBe("closed");
    expect(fail(CLOSED_BREAKER, 3, 500)).toEqual({ state: "open", openedAtMs: 500, retryAtMs: 10_500 });
  });

  it("a success resets the consecutive count", () => {
    const s = fail(recordSuccess(fail(CLOSED_BREAKER, 2), config), 2);
    expect(s.state).toBe("closed");
  });

  it("opens on the failure rate over the window once enough samples are seen", () => {
    // alternate success/failure: never 3 in a row, but 50% failures
    let s: BreakerState = CLOSED_BREAKER;
    const states: string[] = [];
    for (let k = 0; k < 6; k++) {
      s = k % 2 === 0 ? recordSuccess(s, config) : recordFailure(s, config, k);
      states.push(s.state);
    }
    expect(states).toEqual(["closed", "closed", "closed", "closed", "closed", "open"]);
  });

  it("keeps the window bounded", () => {
    let s: BreakerState = CLOSED_BREAKER;
    for (let k = 0; k < 50; k++) s = recordSuccess(s, config);
    expect(s.state === "closed" && s.window.length).toBe(10);
  });

  it("open refuses until the cool-down, then lets one probe through as half-open", () => {
    const open = fail(CLOSED_BREAKER, 3, 0);
    expect(allowsAttempt(open, 9_999)).toBe(false);
    expect(beginAttempt(open, 9_999)).toEqual({ allowed: false, breaker: open });
    expect(secondsUntilRetry(open, 2_500)).toBe(8);
    const probe = beginAttempt(open, 10_000);
    expect(probe).toEqual({ allowed: true, breaker: { state: "half_open", probeInFlight: true } });
    expect(allowsAttempt(probe.breaker, 10_001)).toBe(false);
    expect(beginAttempt(probe.breaker, 10_001).allowed).toBe(false);
  });

  it("half-open closes on success and re-opens on failure with a fresh cool-down", () => {
    const half: BreakerState = { state: "half_open", probeInFlight: true };
    expect(recordSuccess(half, config)).toEqual(CLOSED_BREAKER);
    expect(recordFailure(half, config, 20_000)).toEqual({ state: "open", openedAtMs: 20_000, retryAtMs: 30_000 });
  });

  it("open ignores late outcomes", () => {
    const open = fail(CLOSED_BREAKER, 3, 0);
    expect(recordSuccess(open, config)).toBe(open);
    expect(recordFailure(open, config, 5)).toBe(open);
  });

  it("any sequence of outcomes keeps a consistent state", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("ok" as const) }),
      fc.record({ kind: fc.constant("fail" as const) }),
      fc.record({ kind: fc.constant("attempt" as const) }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 15_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let s: BreakerState = CLOSED_BREAKER;
        let now = 0;
        for (const st of steps) {
          const before = s;
          if (st.kind === "wait") now += st.ms;
          else if (st.kind === "attempt") s = beginAttempt(s, now).breaker;
          else if (st.kind === "ok") s = recordSuccess(s, config);
          else s = recordFailure(s, config, now);
          if (before.state === "half_open" && st.kind === "ok") expect(s.state).toBe("closed");
          if (before.state === "half_open" && st.kind === "fail") expect(s.state).toBe("open");
          if (s.state === "closed") {
            expect(s.consecutiveFailures).toBeLessThan(config.consecutiveFailures);
            expect(s.window.length).toBeLessThanOrEqual(config.windowSize);
          }
          if (s.state === "open") expect(s.retryAtMs - s.openedAtMs).toBe(config.cooldownMs);
        }
      }),
    );
  });
});
