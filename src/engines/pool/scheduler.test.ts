/**
 * The step scheduler over a real (synthetic) BitNet engine in this thread: chunked prefill gives the
 * logits of the whole prompt in one pass bit for bit (for `append` and `appendAll`), with its
 * forwardBatch returning synchronously or as a promise; a step carries every decode first and
 * prompt chunks within the budget; an aborted sequence is dropped before the next step, and one
 * that would overflow its own cache fails alone. The KV budget: arrival order, the wait bound, abort.
 */
import { describe, expect, it } from "vitest";
import { encodeGGUF, parseGGUF } from "../../formats/gguf/index.js";
import { bitnetEngineFromFile, syntheticBitNet } from "../bitnet/index.js";
import { TINY_BITNET } from "../bitnet/testkit.js";
import type { SequenceStep } from "../engine.js";
import { ContextOverflowError } from "../errors.js";
import { KvBudget, KvWaitExceededError } from "./kv-budget.js";
import { StepCancelledError, type StepReport, StepScheduler } from "./scheduler.js";

const engine = bitnetEngineFromFile(
  parseGGUF(encodeGGUF(syntheticBitNet({ ...TINY_BITNET, contextLength: 128 })), "tiny.gguf"),
);
const hex = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 7 + salt) % 256);

describe.each([
  { mode: "sync", batch: (steps: readonly SequenceStep[]) => engine.forwardBatch(steps) },
  { mode: "async", batch: async (steps: readonly SequenceStep[]) => engine.forwardBatch(steps) },
])("StepScheduler ($mode forwardBatch)", ({ batch }) => {
  it("chunks prompts under the budget, decodes first, and returns what one pass alone returns", async () => {
    const reports: StepReport[] = [];
    const scheduler = new StepScheduler(batch, { stepTokenBudget: 20, onStep: (r) => reports.push(r) });
    const long = prompt(30, 1);
    const scored = prompt(20, 5);

    const reference = engine.newSession(64);
    const expectedLast = hex(await reference.append(long));
    const expectedNext = hex(await reference.append([3]));
    reference.close();
    const scoring = engine.newSession(64);
    const expectedAll = hex(await scoring.appendAll(scored));
    scoring.close();

    // a decoding sequence beside them: it must run in every step while the prompts are chunked
    const decoder = scheduler.session(engine.newSession(64));
    await decoder.append([9]);
    reports.length = 0;
    const a = scheduler.session(engine.newSession(64));
    const b = scheduler.session(engine.newSession(64));
    let decodes = 0;
    const decoding = (async () => {
      for (let i = 0; i < 12; i++) {
        await decoder.append([i + 10]);
        decodes++;
      }
    })();
    const [last, all] = await Promise.all([a.append(long), b.appendAll(scored)]);
    const decodesDuringPrefill = decodes;
    await decoding;
    expect(hex(last)).toBe(expectedLast);
    expect(hex(all)).toBe(expectedAll);
    expect(hex(await a.append([3]))).toBe(expectedNext);
    // 50 prompt tokens at 19 a step (one goes to the decode) take 3 steps, each of which also decoded:
    // [decode, a 19], [decode, a 11, b 8], [decode, b 12]
    expect(decodesDuringPrefill).toBeGreaterThanOrEqual(2);
    expect(reports.slice(0, 3).map((r) => [r.batchSize, r.tokens, r.chunks])).toEqual([
      [2, 20, 1],
      [3, 20, 2],
      [2, 13, 1],
    ]);
    expect(Math.max(...reports.map((r) => r.tokens))).toBeLessThanOrEqual(20);
    for (const s of [a, b, decoder]) s.close?.();
  });

  it("drops an aborted sequence before the next step, and fails an overflowing one alone", async () => {
    const scheduler = new StepScheduler(batch, { stepTokenBudget: 4 });
    const controller = new AbortController();
    const cancelled = scheduler.session(engine.newSession(64), controller.signal);
    const small = scheduler.session(engine.newSession(4));
    const fine = scheduler.session(engine.newSession(64));
    const pending = cancelled.append(prompt(40, 2));
    controller.abort();
    const overflow = small.append(prompt(5, 3));
    const ok = fine.append(prompt(6, 4));
    await expect(pending).rejects.toBeInstanceOf(StepCancelledError);
    await expect(overflow).rejects.toBeInstanceOf(ContextOverflowError);
    expect((await ok).length).toBe(engine.vocabSize);
    expect(scheduler.waiting).toBe(0);
    for (const s of [cancelled, small, fine]) s.close?.();
  });

  it("writes a sequence's later logits into one buffer of its own (its first logits); appendAll gets new ones", async () => {
    const seen: Array<Float32Array | undefined> = [];
    const scheduler = new StepScheduler(
      (steps) => {
        seen.push(...steps.map((s) => s.logitsInto));
        return batch(steps);
      },
      { stepTokenBudget: 8 },
    );
    const reference = engine.newSession(64);
    const session = scheduler.session(engine.newSession(64));
    const first = await session.append(prompt(12, 6));
    expect(hex(first)).toBe(hex(await reference.append(prompt(12, 6))));
    // the 12-token prompt ran in two chunks, neither with a buffer yet
    expect(seen).toEqual([undefined, undefined]);
    // a prompt that ran alone got a vocab-sized array of its own: that one is kept, not a copy
    expect(first.byteLength).toBe(first.buffer.byteLength);
    for (const token of [5, 6, 7]) {
      const want = hex(await reference.append([token]));
      const got = await session.append([token]);
      expect(got).toBe(first);
      expect(hex(got)).toBe(want);
    }
    expect(seen.slice(2)).toEqual([first, first, first]);
    const all = await session.appendAll([8, 9]);
    expect(all).not.toBe(first);
    expect(seen[seen.length - 1]).toBeUndefined();
    expect(hex(all)).toBe(hex(await reference.appendAll([8, 9])));
    for (const s of [reference, session]) s.close?.();
  });

  it("copies a first logits row that is a view of a whole step's, so the others' rows are not kept", async () => {
    const scheduler = new StepScheduler(batch, { stepTokenBudget: 8 });
    const sessions = [scheduler.session(engine.newSession(32)), scheduler.session(engine.newSession(32))];
    // both prompts in one step: each gets a view of the step's two rows
    const firsts = await Promise.all(sessions.map((s, i) => s.append(prompt(3, 20 + i))));
    for (const [i, s] of sessions.entries()) {
      const got = await s.append([4]);
      expect(got.length).toBe(engine.vocabSize);
      expect(got.byteLength).toBe(got.buffer.byteLength);
      expect(got.buffer).not.toBe(firsts[i]?.buffer);
      expect(await s.append([5])).toBe(got);
    }
    for (const s of sessions) s.close?.();
  });
});

describe("KvBudget", () => {
  it("grants in arrival order, refuses after the wait bound, and lets an abort leave the line", async () => {
    const budget = new KvBudget(100, 60_000);
    const first = await budget.acquire(70);
    expect(budget.fitsNow(40)).toBe(false);
    const order: string[] = [];
    const large = budget.acquire(60).then((r) => {
      order.push("large");
      return r;
    });
    // fits beside the first, but waits behind the large one (no overtaking)
    expect(budget.fitsNow(20)).toBe(false);
    const controller = new AbortController();
    const leaving = budget.acquire(10, controller.signal);
    const small = budget.acquire(20).then((r) => {
      order.push("small");
      return r;
    });
    expect(budget.waiting).toBe(3);
    controller.abort();
    await expect(leaving).rejects.toBeDefined();
    expect(budget.waiting).toBe(2);
    first.release();
    first.release(); // once only
    const [l, s] = await Promise.all([large, small]);
    expect(order).toEqual(["large", "small"]);
    expect(budget.inUse).toBe(80);
    l.release();
    s.release();
    expect(budget.inUse).toBe(0);

    const short = new KvBudget(10, 5);
    const held = await short.acquire(10);
    await expect(short.acquire(5)).rejects.toBeInstanceOf(KvWaitExceededError);
    expect(short.waiting).toBe(0);
    held.release();
    await expect(short.acquire(11)).rejects.toBeInstanceOf(RangeError);
  });
});
