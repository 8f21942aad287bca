import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { poolThreadTasks } from "../../../kernels/index.js";
import { ContextOverflowError } from "../errors.js";
import { loadEngine } from "../load.js";
import { CpuTurnTaker, createCpuTurns } from "./cpu-turns.js";
import { startVariantWorker, VariantUnavailableError, type VariantWorker } from "./index.js";
import { withCpuTurns } from "./turn-engine.js";

const NANO = join(import.meta.dirname, "../../../models/nano");
const NANO_B158 = join(NANO, "nano-b158/model.gguf");
const NANO_FP32 = join(NANO, "nano-fp32/model.onnx");

/** A promise and the function that settles it, to hold a turn for as long as a test needs. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Waits (by turns of the event loop, never by a clock) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setTimeout(resolve, 5));
}

describe("CPU turns", () => {
  it("grants turns in ticket order: a seat that just released queues behind one already waiting", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const a = new CpuTurnTaker(turns.join());
    const b = new CpuTurnTaker(turns.join());
    const order: string[] = [];
    const holding = gate();
    const first = a.run(() => holding.promise.then(() => order.push("a1")));
    await until(() => turns.held);
    const second = b.run(() => order.push("b"));
    await until(() => turns.waiting === 1);
    holding.open();
    await first;
    // a asks again at once, while b's wake-up is still on its way
    const third = a.run(() => order.push("a2"));
    await Promise.all([second, third]);
    expect(order).toEqual(["a1", "b", "a2"]);
    expect(turns.held).toBe(false);
  });

  it("queues one worker's own callers FIFO, and a waiting caller does not block the thread's event loop", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const other = new CpuTurnTaker(turns.join());
    const mySeat = turns.join();
    const mine = new CpuTurnTaker(mySeat);
    const holding = gate();
    const held = other.run(() => holding.promise);
    await until(() => turns.held);
    const order: number[] = [];
    const calls = [1, 2, 3].map((n) => mine.run(() => order.push(n)));
    await until(() => turns.waiting === 1);
    // the thread still runs other work (a worker sees its cancel messages) while its caller waits
    let ticked = false;
    await new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      ticked = true;
    });
    expect(ticked).toBe(true);
    expect(order).toEqual([]);
    holding.open();
    await Promise.all([held, ...calls]);
    expect(order).toEqual([1, 2, 3]);
    expect(turns.stats(mySeat).turns).toBe(3);
  });

  it("lets turns whose threads fit the budget run at once, and keeps ticket order for a turn that needs every core", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const one = new CpuTurnTaker(turns.join(1));
    const other = new CpuTurnTaker(turns.join(1));
    const whole = new CpuTurnTaker(turns.join()); // the whole budget, as an engine at threads = cores
    const later = new CpuTurnTaker(turns.join(1));
    const order: string[] = [];
    const holding = gate();
    const first = one.run(() => holding.promise.then(() => order.push("one")));
    await until(() => turns.held);
    // a second single-thread engine takes the other core without waiting
    await other.run(() => order.push("other"));
    expect(turns.mostInside).toBe(2);
    // the whole-budget turn waits for the held core; a single-thread turn asking after it waits behind it
    const big = whole.run(() => order.push("whole"));
    await until(() => turns.waiting === 1);
    const small = later.run(() => order.push("later"));
    await until(() => turns.waiting === 2);
    holding.open();
    await Promise.all([first, big, small]);
    expect(order).toEqual(["other", "one", "whole", "later"]);
    expect(turns.held).toBe(false);
  });

  it("frees the turn of a seat whose worker is gone, so the others do not wait on it", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const deadSeat = turns.join();
    const dead = new CpuTurnTaker(deadSeat);
    const alive = new CpuTurnTaker(turns.join());
    void dead.run(() => new Promise<void>(() => undefined)); // never finishes, as a killed worker
    await until(() => turns.held);
    const after = alive.run(() => "ran");
    await until(() => turns.waiting === 1);
    turns.leave(deadSeat);
    expect(await after).toBe("ran");
    expect(turns.held).toBe(false);
    expect(turns.inside).toBe(0);
  });

  it("a lease holds its cores across calls until idle, and an elastic seat beside it computes on the rest without waiting", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const onnxSeat = turns.join(1);
    const onnx = new CpuTurnTaker(onnxSeat, { lease: true });
    const grants: number[] = [];
    const kernelSeat = turns.join(2);
    const kernels = new CpuTurnTaker(kernelSeat, { onGrant: (n) => grants.push(n) });
    // alone, the elastic seat gets every core, and gives them back after each call
    await kernels.run(() => undefined);
    expect(grants).toEqual([2]);
    expect(turns.coresHeld).toBe(0);
    await onnx.run(() => undefined);
    await onnx.run(() => undefined);
    // between the lease's calls its core stays held, so it never waits in the steady state
    expect(turns.coresHeld).toBe(1);
    await kernels.run(() => undefined);
    await kernels.run(() => undefined);
    expect(grants).toEqual([2, 1, 1]);
    expect(turns.stats(kernelSeat).cores).toBe(1);
    expect(turns.stats(kernelSeat).waitMs + turns.stats(onnxSeat).waitMs).toBeGreaterThanOrEqual(0);
    onnx.idle();
    expect(turns.coresHeld).toBe(0);
    await kernels.run(() => undefined);
    expect(grants).toEqual([2, 1, 1, 2]);
    expect(turns.mostCoresHeld).toBe(2);
    expect(turns.waiting).toBe(0);
  });

  it("two busy elastic seats (a variant's instances) compute on a core each; one alone gets every core", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const grants: Record<string, number[]> = { a: [], b: [] };
    const a = new CpuTurnTaker(turns.join(2), { onGrant: (n) => grants.a?.push(n) });
    const b = new CpuTurnTaker(turns.join(2), { onGrant: (n) => grants.b?.push(n) });
    await a.run(() => undefined);
    expect(grants.a).toEqual([2]);
    // b has work too: between a's steps it is left a core, and so is a between b's
    await b.run(() => undefined);
    await a.run(() => undefined);
    await b.run(() => undefined);
    expect(grants.b).toEqual([1, 1]);
    expect(grants.a).toEqual([2, 1]);
    // both in a step at once: one core each, never more than the budget
    const held = gate();
    const both = Promise.all([a.run(() => held.promise), b.run(() => held.promise)]);
    await until(() => turns.inside === 2);
    expect(turns.coresHeld).toBe(2);
    held.open();
    await both;
    b.idle();
    await a.run(() => undefined);
    expect(grants.a?.at(-1)).toBe(2);
    expect(turns.mostCoresHeld).toBe(2);
  });

  it("a lease taken while the elastic seat computes waits for that call, and the elastic seat's next call leaves it its cores", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const onnx = new CpuTurnTaker(turns.join(1), { lease: true });
    const grants: number[] = [];
    const kernels = new CpuTurnTaker(turns.join(2), { onGrant: (n) => grants.push(n) });
    const holding = gate();
    const step = kernels.run(() => holding.promise);
    await until(() => turns.held);
    const order: string[] = [];
    const leased = onnx.run(() => order.push("onnx"));
    await until(() => turns.waiting === 1);
    holding.open();
    await step;
    // asked while the lease still waits for its wake-up: one core is left for it
    await kernels.run(() => order.push("kernels"));
    await leased;
    expect(grants).toEqual([2, 1]);
    expect(turns.mostCoresHeld).toBeLessThanOrEqual(2);
    onnx.idle();
    expect(turns.held).toBe(false);
  });

  it("a lease that does not leave the elastic seat a core gives it back after each call while the seat waits (turns)", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const onnx = new CpuTurnTaker(turns.join(2), { lease: true });
    const grants: number[] = [];
    const kernels = new CpuTurnTaker(turns.join(2), { onGrant: (n) => grants.push(n) });
    await onnx.run(() => undefined);
    expect(turns.coresHeld).toBe(2);
    const order: string[] = [];
    const waiting = kernels.run(() => order.push("kernels"));
    await until(() => turns.waiting === 1);
    // the lease's next call ends with a seat waiting, so the cores go back
    await onnx.run(() => order.push("onnx"));
    await waiting;
    expect(order).toEqual(["onnx", "kernels"]);
    expect(grants).toEqual([2]);
    expect(turns.mostCoresHeld).toBe(2);
    expect(turns.held).toBe(false);
  });

  it("releases the turn when a forward call throws (BitNet and ONNX nano engines)", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const engines = await Promise.all(
      [NANO_B158, NANO_FP32].map(async (path) =>
        withCpuTurns(await loadEngine(path, { threads: 1 }), new CpuTurnTaker(turns.join())),
      ),
    );
    for (const engine of engines) {
      const session = engine.newSession(2);
      await expect(session.append([1, 2, 3])).rejects.toBeInstanceOf(ContextOverflowError);
      expect(turns.held).toBe(false);
      expect(turns.inside).toBe(0);
      // and the next call takes a turn normally
      expect((await session.append([1])).length).toBe(engine.vocabSize);
      session.close?.();
    }
    await Promise.all(engines.map((e) => e.close()));
  });
});

describe("CPU turns across worker threads (nano BitNet and its ONNX twin)", () => {
  const workers: VariantWorker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
  });

  it("never runs two forward calls at once while both engines generate, and both get turns", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const bitnet = startVariantWorker({ name: "nano-b158", path: NANO_B158, threads: 2, slots: 2, cpuTurns: turns });
    const onnx = startVariantWorker({ name: "nano-fp32", path: NANO_FP32, threads: 2, slots: 2, cpuTurns: turns });
    workers.push(bitnet, onnx);
    await Promise.all([bitnet.ready, onnx.ready]);
    const request = (text: string) => ({
      input: { kind: "text" as const, text },
      maxTokens: 48,
      sampling: { temperature: 0 },
      ignoreEos: true,
    });
    const results = await Promise.all(
      [bitnet, onnx].flatMap((w) => [w.generate(request("Once upon a time")), w.generate(request("The cat"))]),
    );
    for (const r of results) expect(r.completionTokens).toBe(48);
    expect(turns.mostInside).toBe(1);
    expect(turns.inside).toBe(0);
    expect(turns.held).toBe(false);
    // every forward call took a turn: each worker's two generations are batched into one call per step
    // (a prefill and 47 decode steps at least), and the steps the scheduler ran are that many calls
    for (const w of [bitnet, onnx]) {
      const stats = w.cpuTurnStats;
      expect(stats?.turns).toBeGreaterThanOrEqual(48);
      expect(stats?.turns).toBeGreaterThanOrEqual(w.batchSteps.steps);
      expect(stats?.waitMs).toBeGreaterThanOrEqual(0);
    }
  });

  it("under the default split the kernels' pool computes on 1 thread while the ONNX worker is busy, and on 2 once it is idle", async () => {
    const turns = createCpuTurns({ cores: 2 });
    // the gateway's default on 2 cores with both engines: the pool at the budget, ONNX at half of it
    const bitnet = startVariantWorker({ name: "nano-b158", path: NANO_B158, threads: 2, cpuTurns: turns });
    const onnx = startVariantWorker({ name: "nano-fp32", path: NANO_FP32, threads: 1, cpuTurns: turns });
    workers.push(bitnet, onnx);
    await Promise.all([bitnet.ready, onnx.ready]);
    const short = { input: { kind: "text" as const, text: "Once" }, maxTokens: 8, ignoreEos: true };
    await bitnet.generate(short);
    expect(bitnet.cpuTurnStats?.cores).toBe(2);
    // the ONNX worker generates to the end of its context; its first token means it holds its core
    const stop = new AbortController();
    let firstToken!: () => void;
    const started = new Promise<void>((resolve) => {
      firstToken = resolve;
    });
    const long = onnx.generate(
      { input: { kind: "text", text: "Once" }, maxTokens: 250, ignoreEos: true },
      () => firstToken(),
      stop.signal,
    );
    await started;
    expect(turns.coresHeld).toBeGreaterThanOrEqual(1);
    const before = poolThreadTasks();
    const beside = await bitnet.generate(short);
    const ran = poolThreadTasks().map((n, thread) => n - before[thread]!);
    expect(onnx.running).toBe(1); // still busy: everything above ran beside it
    expect(beside.completionTokens).toBe(8);
    expect(bitnet.cpuTurnStats?.cores).toBe(1);
    // the pool's second thread ran none of BitNet's work meanwhile: never more busy threads than cores
    expect(ran[0]).toBeGreaterThan(0);
    expect(ran[1]).toBe(0);
    expect(turns.mostCoresHeld).toBeLessThanOrEqual(2);
    stop.abort();
    await expect(long).rejects.toThrow();
    // idle: the ONNX worker's lease went back before its answer did
    expect(turns.coresHeld).toBe(0);
    await bitnet.generate(short);
    expect(bitnet.cpuTurnStats?.cores).toBe(2);
    expect(turns.held).toBe(false);
  });

  it("a worker that crashes while waiting for a turn leaves the queue; its restart and the other engine take turns", async () => {
    const turns = createCpuTurns({ cores: 2 });
    const bitnet = startVariantWorker({
      name: "nano-b158",
      path: NANO_B158,
      threads: 2,
      cpuTurns: turns,
      restartDelayMs: 0,
    });
    const onnx = startVariantWorker({ name: "nano-fp32", path: NANO_FP32, threads: 2, cpuTurns: turns });
    workers.push(bitnet, onnx);
    await Promise.all([bitnet.ready, onnx.ready]);
    // this thread holds the turn, so the BitNet worker's prefill waits for it
    const holder = new CpuTurnTaker(turns.join());
    const holding = gate();
    const held = holder.run(() => holding.promise);
    await until(() => turns.held);
    const text = { input: { kind: "text" as const, text: "Once" }, maxTokens: 4, ignoreEos: true };
    const lost = bitnet.generate(text);
    await until(() => turns.waiting === 1);
    bitnet.crash();
    await expect(lost).rejects.toBeInstanceOf(VariantUnavailableError);
    await until(() => turns.waiting === 0);
    holding.open();
    await held;
    await until(() => bitnet.state === "ready");
    const [a, b] = await Promise.all([bitnet.generate(text), onnx.generate(text)]);
    expect([a.completionTokens, b.completionTokens]).toEqual([4, 4]);
    expect(turns.held).toBe(false);
    expect(turns.mostInside).toBe(1);
  });
});
