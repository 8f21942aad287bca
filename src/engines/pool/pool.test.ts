import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TINY_SPEC, type TinyFamily, tinyFamily } from "../../../test/helpers/tiny-family.js";
import { writeGGUF } from "../../formats/gguf/index.js";
import { syntheticBitNet } from "../bitnet/index.js";
import { ContextOverflowError, InvalidGenerationError } from "../errors.js";
import {
  GenerationAbortedError,
  QueueFullError,
  startVariantWorker,
  VariantUnavailableError,
  type VariantWorker,
} from "./index.js";
import { PriorityQueue } from "./queue.js";

const hello = { kind: "chat" as const, messages: [{ role: "user", content: "Hello there" }] };

describe("PriorityQueue", () => {
  it("orders by priority, then arrival, and respects its bound", () => {
    const q = new PriorityQueue<string>(4);
    expect(q.push("a", 0)).toBe(true);
    expect(q.push("b", 5)).toBe(true);
    expect(q.push("c", 0)).toBe(true);
    expect(q.push("d", 5)).toBe(true);
    expect(q.push("e", 9)).toBe(false);
    expect(q.remove("c")).toBe(true);
    expect(q.drain()).toEqual(["b", "d", "a"]);
  });

  it("when full, gives the newest of the lowest priority's place to a more urgent entry, and counts what one would wait behind", () => {
    const q = new PriorityQueue<string>(3);
    q.push("a", 0);
    q.push("b", 0);
    q.push("c", 5);
    expect(q.countAtOrAbove(5)).toBe(1);
    expect(q.countAtOrAbove(0)).toBe(3);
    expect(q.countAtOrAbove(9)).toBe(0);
    expect(q.displace("d", 0)).toBeUndefined(); // not more urgent than anyone: nothing changes
    expect(q.displace("e", 2)).toBe("b");
    expect(q.displace("f", 9)).toBe("a");
    expect(q.displace("g", 1)).toBeUndefined(); // the lowest left is 2
    expect(q.drain()).toEqual(["f", "c", "e"]);
  });
});

describe("variant workers", () => {
  let family: TinyFamily;
  let ternary: VariantWorker;
  let fp32: VariantWorker;

  beforeAll(async () => {
    family = await tinyFamily();
    ternary = startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1, maxQueue: 2 });
    fp32 = startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1 });
    await Promise.all([ternary.ready, fp32.ready]);
  });
  afterAll(async () => {
    await Promise.all([ternary?.close(), fp32?.close()]);
  });

  it("loads both engines off the main thread and streams the same greedy tokens the result holds", async () => {
    expect(ternary.state).toBe("ready");
    expect(ternary.info?.kind).toBe("bitnet");
    expect(fp32.info?.kind).toBe("onnx");
    const streamed: string[] = [];
    const result = await ternary.generate(
      { input: hello, maxTokens: 8, sampling: { temperature: 0, topLogprobs: 2 }, ignoreEos: true, tokenInfo: true },
      (t) => streamed.push(t.text),
    );
    expect(result.completionTokens).toBe(8);
    expect(result.finishReason).toBe("length");
    expect(streamed.join("")).toBe(result.tokens.map((t) => t.text).join(""));
    expect(result.tokens[0]?.top).toHaveLength(2);
    expect(result.tokens[0]?.bytes).toBeInstanceOf(Array);
    expect(result.promptTokens).toBeGreaterThan(5);
    expect(ternary.running).toBe(0);
    const again = await ternary.generate({ input: hello, maxTokens: 8, sampling: { temperature: 0 }, ignoreEos: true });
    expect(again.text).toBe(result.text);
  });

  it("keeps the event loop free while generating", async () => {
    // event-loop turns while the worker generates (setImmediate runs once a turn): the main thread
    // ran other work meanwhile; a blocked loop would count one turn at most, after the answer
    let turns = 0;
    let turnsBeforeAnswer = 0;
    let counting = true;
    const turn = () => {
      turns++;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    const answered = fp32
      .generate({ input: hello, maxTokens: 40, sampling: { temperature: 0 }, ignoreEos: true })
      .then(() => {
        turnsBeforeAnswer = turns;
      });
    await answered;
    counting = false;
    expect(turnsBeforeAnswer).toBeGreaterThan(1);
  });

  it("counts the KV-cache positions its running generations hold, and frees them when they end", async () => {
    for (const worker of [ternary, fp32]) {
      expect(worker.kvTokensInUse).toBe(0);
      expect(worker.kvTokenCapacity).toBe(worker.slots * (worker.info?.contextLength ?? Number.NaN));
      const seen: number[] = [];
      const result = await worker.generate(
        { input: hello, maxTokens: 12, sampling: { temperature: 0 }, ignoreEos: true },
        () => seen.push(worker.kvTokensInUse),
      );
      // the k-th token (from 0) is sampled after the prompt and the k tokens before it went through the cache
      expect(seen, worker.name).toEqual(Array.from({ length: 12 }, (_, k) => result.promptTokens + k));
      expect(worker.kvTokensInUse).toBe(0);
    }
  });

  it("sums the KV positions of generations running at once, and drops a cancelled one's", async () => {
    const wide = startVariantWorker({ name: "tiny-b158-wide", path: family.gguf, threads: 1, slots: 2 });
    try {
      await wide.ready;
      const cancel = new AbortController();
      const peaks: number[] = [];
      let firstDone = false;
      const long = wide
        .generate(
          { input: hello, maxTokens: 40, sampling: { temperature: 0 }, ignoreEos: true },
          () => {
            if (firstDone) cancel.abort();
          },
          cancel.signal,
        )
        .catch((e: unknown) => e);
      const short = await wide.generate(
        { input: { kind: "text", text: "one two" }, maxTokens: 6, sampling: { temperature: 0 }, ignoreEos: true },
        () => peaks.push(wide.kvTokensInUse),
      );
      firstDone = true;
      // while the short one ran, the long one held its prompt too: the sum is above the short one's own count
      expect(Math.max(...peaks)).toBeGreaterThan(short.promptTokens + short.completionTokens - 1);
      const afterShort = wide.kvTokensInUse;
      expect(afterShort).toBeGreaterThan(0);
      expect(await long).toBeInstanceOf(GenerationAbortedError);
      expect(wide.running).toBe(0);
      expect(wide.kvTokensInUse).toBe(0);
    } finally {
      await wide.close();
    }
  });

  it("queues by priority, bounds the queue and cancels queued and running requests", async () => {
    const order: string[] = [];
    const long = new AbortController();
    const req = (maxTokens: number) => ({ input: hello, maxTokens, sampling: { temperature: 0 }, ignoreEos: true });
    const first = ternary.generate(req(200), undefined, long.signal).catch((e: Error) => e);
    const low = ternary.generate({ ...req(2), priority: 0 }).then(() => order.push("low"));
    const high = ternary.generate({ ...req(2), priority: 5 }).then(() => order.push("high"));
    expect(ternary.running).toBe(1);
    expect(ternary.waiting).toBe(2);
    await expect(ternary.generate(req(2))).rejects.toBeInstanceOf(QueueFullError);
    expect(ternary.waitingAtOrAbove(5)).toBe(1);
    long.abort();
    expect(await first).toBeInstanceOf(GenerationAbortedError);
    await Promise.all([low, high]);
    expect(order).toEqual(["high", "low"]);
    expect(ternary.running).toBe(0);

    const queued = new AbortController();
    const blocker = ternary.generate(req(30));
    const waiting = ternary.generate(req(2), undefined, queued.signal);
    expect(ternary.waiting).toBe(1);
    queued.abort();
    await expect(waiting).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(ternary.waiting).toBe(0);
    await blocker;

    // full, the queue refuses its least urgent request to take a more urgent one
    const busy = ternary.generate(req(30));
    const least = ternary.generate({ ...req(2), priority: 0 });
    const middle = ternary.generate({ ...req(2), priority: 1 });
    const urgent = ternary.generate({ ...req(2), priority: 9 });
    await expect(least).rejects.toBeInstanceOf(QueueFullError);
    expect(ternary.waiting).toBe(2);
    await Promise.all([busy, middle, urgent]);
  });

  it("reports request faults per request, as their own class across the worker boundary", async () => {
    const long = "x".repeat(400);
    const overflow = fp32.generate({ input: { kind: "text", text: long }, maxTokens: 4 });
    await expect(overflow).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(overflow).rejects.toMatchObject({ capacity: 256, param: "messages" });
    // a client's max_tokens that the context cannot hold is refused, not cut short
    const strict = ternary.generate({ input: hello, maxTokens: 255, strictMaxTokens: true });
    await expect(strict).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(strict).rejects.toMatchObject({ capacity: 256, param: "max_tokens" });
    // without strictMaxTokens it is a ceiling, cut to what the context leaves
    const cut = await ternary.generate({ input: hello, maxTokens: 255, sampling: { temperature: 0 }, ignoreEos: true });
    expect(cut.finishReason).toBe("length");
    expect(cut.completionTokens).toBeLessThan(255);
    const bias = fp32.generate({ input: hello, maxTokens: 1, sampling: { logitBias: { 999999: 5 } } });
    await expect(bias).rejects.toBeInstanceOf(InvalidGenerationError);
    await expect(bias).rejects.toMatchObject({ param: "logit_bias" });
    expect(fp32.state).toBe("ready");
    // "" is the BOS alone on a model that adds one; on one that does not, it is an empty prompt, refused
    expect((await fp32.generate({ input: { kind: "text", text: "" }, maxTokens: 1 })).promptTokens).toBe(1);
    const spec = syntheticBitNet(TINY_SPEC);
    const noBos = join(mkdtempSync(join(tmpdir(), "tg-nobos-")), "nobos.gguf");
    const metadata = [...spec.metadata].filter(([key]) => key !== "tokenizer.ggml.add_bos_token");
    await writeGGUF(noBos, {
      ...spec,
      metadata: [...metadata, ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }]],
    });
    const bare = startVariantWorker({ name: "nobos", path: noBos, threads: 1 });
    try {
      await bare.ready;
      const empty = bare.generate({ input: { kind: "text", text: "" }, maxTokens: 1 });
      await expect(empty).rejects.toBeInstanceOf(InvalidGenerationError);
      await expect(empty).rejects.toMatchObject({ param: "prompt" });
    } finally {
      await bare.close();
    }
  });

  it("a model that fails to load is reported, not thrown into the void", async () => {
    const broken = startVariantWorker({ name: "broken", path: join(family.dir, "missing.gguf") });
    await expect(broken.ready).rejects.toThrow(/missing\.gguf/);
    expect(broken.state).toBe("failed");
    expect(broken.error).toMatch(/missing\.gguf/);
    await expect(broken.generate({ input: hello, maxTokens: 1 })).rejects.toBeInstanceOf(VariantUnavailableError);
    await broken.close();
  });

  it("a crashed worker fails what it was running, restarts, and serves again; the others keep serving", async () => {
    const victim = startVariantWorker({ name: "victim", path: family.gguf, threads: 1, restartDelayMs: 50 });
    await victim.ready;
    const inflight = victim.generate({ input: hello, maxTokens: 200, ignoreEos: true });
    victim.crash();
    await expect(inflight).rejects.toBeInstanceOf(VariantUnavailableError);
    expect(victim.state).toBe("loading");
    expect(victim.error).toMatch(/restarting after: worker exited with code 70/);
    // queued while it restarts, served by the new worker
    const afterRestart = victim.generate({ input: hello, maxTokens: 3, ignoreEos: true });
    const ok = await fp32.generate({ input: hello, maxTokens: 2, ignoreEos: true });
    expect(ok.completionTokens).toBe(2);
    expect((await afterRestart).completionTokens).toBe(3);
    expect(victim.state).toBe("ready");
    expect(victim.restarts).toBe(1);
    expect(victim.error).toBeUndefined();
    await victim.close();
  });

  it("closing a variant while its ONNX model loads lets the load finish: the process exits cleanly", () => {
    // in its own process: a worker stopped while onnxruntime was creating its session used to abort
    // the process ("terminate called after throwing an instance of 'Napi::Error'"). The close times
    // sweep the worker's start-up so that some land inside session creation (the 23 MB nano model
    // takes long enough to be hit; start-up to ready is ~0.8 s here).
    const model = join(import.meta.dirname, "../../../models/nano/nano-fp32/model.onnx");
    const dir = mkdtempSync(join(tmpdir(), "tg-close-"));
    const script = join(dir, "close-while-loading.mts");
    writeFileSync(
      script,
      [
        `const { startVariantWorker } = await import(${JSON.stringify(join(import.meta.dirname, "index.ts"))});`,
        "for (let delay = 200; delay <= 1200; delay += 50) {",
        `  const w = startVariantWorker({ name: "loading", path: ${JSON.stringify(model)}, threads: 1 });`,
        "  await new Promise((resolve) => setTimeout(resolve, delay));",
        "  await w.close();",
        "}",
        'console.log("closed");',
      ].join("\n"),
    );
    const tsx = join(import.meta.dirname, "../../../node_modules/.bin/tsx");
    const run = spawnSync(tsx, [script], { encoding: "utf8", timeout: 100_000 });
    expect(run.stderr).not.toMatch(/terminate called/);
    expect(run.stdout).toContain("closed");
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
  }, 120_000);

  it("a worker that keeps crashing stays failed after maxRestarts", async () => {
    const victim = startVariantWorker({
      name: "victim",
      path: family.gguf,
      threads: 1,
      restartDelayMs: 10,
      maxRestarts: 1,
    });
    await victim.ready;
    victim.crash();
    await vi.waitFor(() => expect([victim.restarts, victim.state]).toEqual([1, "ready"]), { timeout: 10_000 });
    const inflight = victim.generate({ input: hello, maxTokens: 200, ignoreEos: true });
    victim.crash();
    await expect(inflight).rejects.toBeInstanceOf(VariantUnavailableError);
    expect(victim.state).toBe("failed");
    expect(victim.error).toMatch(/1 restarts in a row/);
    await expect(victim.generate({ input: hello, maxTokens: 1 })).rejects.toBeInstanceOf(VariantUnavailableError);
    await victim.close();
  });
});
