/**
 * Idle unloading on real workers (the tiny family, both engines): a variant with nothing to do for
 * `idleUnloadMs` terminates its worker and reports `unloaded`; the next request loads it again and
 * gets the answer it got before, and requests arriving during that load wait in the queue.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type TinyFamily, tinyFamily } from "../../../test/helpers/tiny-family.js";
import { GenerationAbortedError, startVariantWorker, type VariantWorker } from "./index.js";

const hello = { kind: "chat" as const, messages: [{ role: "user", content: "Hello there" }] };
const greedy = { input: hello, maxTokens: 6, sampling: { temperature: 0 }, ignoreEos: true } as const;
/** tiny, so the test does not wait; the unload is awaited as a state, never timed */
const IDLE_MS = 30;

describe("idle unload and reload on demand", () => {
  let family: TinyFamily;
  const started: VariantWorker[] = [];

  beforeAll(async () => {
    family = await tinyFamily();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.close()));
  });

  const start = (engine: "bitnet" | "onnx", idleUnloadMs?: number) => {
    const path = engine === "bitnet" ? family.gguf : family.onnx;
    const worker = startVariantWorker({ name: `tiny-${engine}`, path, threads: 1, slots: 1, idleUnloadMs });
    started.push(worker);
    return worker;
  };

  const unloaded = (worker: VariantWorker) =>
    vi.waitFor(() => expect(worker.state).toBe("unloaded"), { timeout: 20_000, interval: 10 });

  for (const engine of ["bitnet", "onnx"] as const) {
    it(`${engine}: unloads after the idle time, and the next request reloads it and gets the same answer`, async () => {
      const worker = start(engine, IDLE_MS);
      const info = await worker.ready;
      const before = await worker.generate(greedy);
      await unloaded(worker);
      expect(worker.unloads).toBe(1);
      expect(worker.running + worker.waiting).toBe(0);
      // the router is told what the load will cost: the last load, thread start-up included, so at
      // least the engine's own load time the worker reported
      expect(worker.pendingLoadMs).toBeGreaterThanOrEqual(info.loadMs);

      const answer = worker.generate(greedy);
      expect(worker.state).toBe("reloading");
      expect(worker.waiting).toBe(1);
      const after = await answer;
      expect(after.text).toBe(before.text);
      expect(after.completionTokens).toBe(greedy.maxTokens);
      // the wait for the load is the request's queue time
      expect(after.queueMs).toBeGreaterThan(0);
      expect(worker.state).not.toBe("reloading");
      expect(worker.restarts).toBe(0);

      // and it unloads again once idle
      await unloaded(worker);
      expect(worker.unloads).toBe(2);
    });
  }

  it("requests arriving during the reload wait in the queue and all succeed", async () => {
    const worker = start("bitnet", IDLE_MS);
    await worker.ready;
    const reference = await worker.generate(greedy);
    await unloaded(worker);

    const first = worker.generate(greedy);
    expect(worker.state).toBe("reloading");
    // more requests while the model loads: queued behind the load, not refused
    const more = [worker.generate(greedy), worker.generate({ ...greedy, priority: 5 })];
    expect(worker.waiting).toBe(3);
    expect(worker.pendingLoadMs).toBeGreaterThanOrEqual(0);
    const results = await Promise.all([first, ...more]);
    for (const r of results) expect(r.text).toBe(reference.text);
    expect(worker.unloads).toBe(1);
  });

  it("a cancelled request waiting for the reload is removed and the variant still loads", async () => {
    const worker = start("onnx", IDLE_MS);
    await worker.ready;
    await unloaded(worker);
    const controller = new AbortController();
    const cancelled = worker.generate(greedy, undefined, controller.signal);
    const kept = worker.generate(greedy);
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(GenerationAbortedError);
    expect((await kept).completionTokens).toBe(greedy.maxTokens);
  });

  it("without idleUnloadMs a variant stays loaded while idle", async () => {
    const worker = start("bitnet");
    await worker.ready;
    await worker.generate(greedy);
    // give an unload every chance it would have with the idle time above
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 10));
    expect(worker.state).toBe("ready");
    expect(worker.unloads).toBe(0);
    expect(worker.pendingLoadMs).toBe(0);
  });
});
