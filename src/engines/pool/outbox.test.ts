/**
 * The progress outbox on a hand-driven clock, turn and timer: a first token leaves on the next turn,
 * later ones wait across short steps until the oldest is maxDelayMs old, every step flushes when steps
 * are long, the timer sends what no step came for, and flush() sends all at once, in order.
 */
import { describe, expect, it } from "vitest";
import { ProgressOutbox } from "./outbox.js";
import type { StepRun, TokenMessage } from "./protocol.js";

function harness(maxDelayMs: number) {
  let now = 0;
  const turns: Array<() => void> = [];
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  const sent: Array<{ steps: StepRun[]; tokens: TokenMessage[] }> = [];
  const outbox = new ProgressOutbox({
    post: (p) => sent.push(p),
    maxDelayMs,
    now: () => now,
    onNextTurn: (fn) => turns.push(fn),
    after: (ms, fn) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return { cancel: () => (t.live = false) };
    },
  });
  const token = (id: number): TokenMessage => ({ id, token: { id, text: "x", logprob: 0, top: [] }, kvTokens: id });
  return {
    outbox,
    sent,
    token,
    /** advance the clock, firing due timers */
    advance(ms: number) {
      now += ms;
      for (const t of timers) {
        if (!t.live || t.at > now) continue;
        t.live = false;
        t.fn();
      }
    },
    turn() {
      for (const fn of turns.splice(0)) fn();
    },
    /** a step of `ms` with `batch` sequences, each sampling one token of generation 1..batch */
    step(ms: number, batch: number, first = false) {
      outbox.beforeStep();
      now += ms;
      outbox.step({ batchSize: batch, tokens: batch });
      for (let i = 1; i <= batch; i++) outbox.token(token(i), first);
    },
  };
}

describe("ProgressOutbox", () => {
  it("sends a generation's first token on the next turn", () => {
    const h = harness(1);
    h.step(0.3, 1, true);
    expect(h.sent).toHaveLength(0);
    h.turn();
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]?.steps).toEqual([{ batchSize: 1, tokens: 1 }]);
    expect(h.sent[0]?.tokens.map((t) => t.id)).toEqual([1]);
  });

  it("holds later tokens across short steps until the oldest is maxDelayMs old, then sends them all in order", () => {
    const h = harness(1);
    h.step(0.3, 2); // tokens at t = 0.3
    h.step(0.3, 2); // before it: 0 ms old, kept; tokens at 0.6
    h.step(0.3, 2); // 0.3 ms old, kept; tokens at 0.9
    h.turn();
    expect(h.sent).toHaveLength(0);
    h.step(0.3, 2); // 0.6 ms old, kept
    h.step(0.3, 2); // 0.9 ms old, kept
    expect(h.sent).toHaveLength(0);
    h.outbox.beforeStep(); // at 1.5: the oldest (0.3) is 1.2 ms old
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]?.steps).toHaveLength(5);
    expect(h.sent[0]?.tokens.map((t) => t.id)).toEqual([1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
  });

  it("sends before every step when steps take maxDelayMs or more", () => {
    const h = harness(1);
    h.step(60, 4);
    h.outbox.beforeStep();
    expect(h.sent).toHaveLength(1);
    h.step(60, 4);
    h.outbox.beforeStep();
    expect(h.sent).toHaveLength(2);
  });

  it("sends what is held when no step comes, maxDelayMs after it was queued", () => {
    const h = harness(1);
    h.step(0.3, 1);
    h.advance(0.5);
    expect(h.sent).toHaveLength(0);
    h.advance(0.6);
    expect(h.sent).toHaveLength(1);
    h.advance(5);
    expect(h.sent).toHaveLength(1);
  });

  it("flush() sends everything at once and cancels the timer; maxDelayMs 0 sends every step on the next turn", () => {
    const h = harness(1);
    h.step(0.3, 3);
    h.outbox.flush();
    expect(h.sent).toHaveLength(1);
    h.outbox.flush();
    h.advance(10);
    expect(h.sent).toHaveLength(1);

    const eager = harness(0);
    eager.step(0.3, 2);
    eager.turn();
    eager.step(0.3, 2);
    eager.turn();
    expect(eager.sent.map((p) => p.tokens.length)).toEqual([2, 2]);
  });
});
