/**
 * Continuous batching through the real pool: worker threads running the committed nano model and a
 * synthetic one. Several generations at once get exactly the tokens (and log-probabilities, so the
 * logits bit for bit) each gets alone on a plain in-process session, greedy and seeded, with mixed
 * prompt lengths and generations joining and leaving mid-batch; the steps really carried several
 * sequences; a long prompt is chunked while the others keep decoding; a cancel frees its KV budget
 * for a waiting generation; the KV budget makes generations wait, then refuses them cleanly, and a
 * generation that can never fit is a request fault.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { writeGGUF } from "../../formats/gguf/index.js";
import { syntheticBitNet } from "../bitnet/index.js";
import { TINY_BITNET } from "../bitnet/testkit.js";
import type { Engine } from "../engine.js";
import { ContextOverflowError } from "../errors.js";
import { loadEngine } from "../load.js";
import type { SamplingParams } from "../sampler/index.js";
import {
  CapacityError,
  GenerationAbortedError,
  KvBudgetExhaustedError,
  type PoolResult,
  startVariantWorker,
  type VariantWorker,
  type VariantWorkerOptions,
} from "./index.js";

const NANO = join(import.meta.dirname, "../../../models/nano/nano-b158/model.gguf");

interface Ask {
  readonly text: string;
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
}

/** What a generation gives alone: the engine in this process, one plain session, the prompt in one pass. */
async function alone(engine: Engine, ask: Ask): Promise<{ ids: number[]; logprobs: number[] }> {
  const prompt = engine.tokenizer.encode(ask.text, { addSpecial: true });
  const result = await engine.generate({ prompt, maxTokens: ask.maxTokens, sampling: ask.sampling, ignoreEos: true });
  return { ids: result.tokens.map((t) => t.id), logprobs: result.tokens.map((t) => t.logprob) };
}

function pooled(worker: VariantWorker, ask: Ask, onToken?: () => void, signal?: AbortSignal): Promise<PoolResult> {
  return worker.generate(
    { input: { kind: "text", text: ask.text }, maxTokens: ask.maxTokens, sampling: ask.sampling, ignoreEos: true },
    onToken,
    signal,
  );
}

const asPlain = (r: PoolResult) => ({ ids: r.tokens.map((t) => t.id), logprobs: r.tokens.map((t) => t.logprob) });

const LONG = "The quick brown fox jumps over the lazy dog while the cat watches from the fence. ".repeat(3);

/** Mixed prompt lengths (one longer than a step's token budget), greedy and seeded, leaving at different steps. */
const ASKS: readonly Ask[] = [
  { text: "Once upon a time", maxTokens: 24, sampling: { temperature: 0 } },
  { text: LONG, maxTokens: 12, sampling: { temperature: 0.9, seed: 7, topP: 0.95 } },
  { text: "Hi", maxTokens: 30, sampling: { temperature: 0.7, seed: 11 } },
  { text: "A short story about a robot who learns to paint", maxTokens: 6, sampling: { temperature: 0 } },
  { text: "Lists: one, two,", maxTokens: 18, sampling: { temperature: 1.1, seed: 3, topK: 20 } },
];

async function syntheticModel(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), "tg-batching-")), "synthetic.gguf");
  await writeGGUF(path, syntheticBitNet({ ...TINY_BITNET, contextLength: 512, seed: 23 }));
  return path;
}

async function started(options: VariantWorkerOptions): Promise<VariantWorker> {
  const worker = startVariantWorker({ threads: 1, ...options });
  await worker.ready;
  return worker;
}

describe.each([
  { model: "nano-b158", path: async () => NANO },
  { model: "synthetic", path: syntheticModel },
])("continuous batching on $model", ({ model, path }) => {
  let file: string;
  let engine: Engine;
  let worker: VariantWorker;

  beforeAll(async () => {
    file = await path();
    engine = await loadEngine(file, { threads: 1 });
    // a budget of 16 tokens a step: the long prompt is prefilled in chunks beside the others' decode
    worker = await started({ name: model, path: file, slots: 8, stepTokenBudget: 16 });
  });
  afterAll(async () => {
    await worker?.close();
    await engine?.close();
  });

  it("gives every generation exactly its tokens alone, with some joining and leaving mid-batch", async () => {
    expect(worker.info?.batched).toBe(true);
    const expected = [];
    for (const ask of ASKS) expected.push(await alone(engine, ask));
    const before = worker.batchSteps;

    // the first two start together; the others join once the first has streamed 3 and 8 tokens
    const late: Promise<PoolResult>[] = [];
    let streamed = 0;
    const first = pooled(worker, ASKS[0]!, () => {
      streamed++;
      if (streamed === 3) late.push(pooled(worker, ASKS[2]!), pooled(worker, ASKS[3]!));
      if (streamed === 8) late.push(pooled(worker, ASKS[4]!));
    });
    const second = pooled(worker, ASKS[1]!);
    const [r0, r1] = await Promise.all([first, second]);
    const [r2, r3, r4] = await Promise.all(late);

    expect([r0, r1, r2, r3, r4].map((r) => asPlain(r!))).toEqual(expected);
    const after = worker.batchSteps;
    // the steps carried several sequences: fewer steps than sequence-steps, and a batch of 3 or more
    expect(after.largest).toBeGreaterThanOrEqual(3);
    expect(after.sequences - before.sequences).toBeGreaterThan(after.steps - before.steps);
    expect(worker.running).toBe(0);
    expect(worker.batchSize).toBe(0);
  });

  it("chunks a long prompt so a running generation keeps decoding during its prefill", async () => {
    const runner: Ask = { text: "Hi", maxTokens: 60, sampling: { temperature: 0 } };
    const long: Ask = { text: LONG, maxTokens: 2, sampling: { temperature: 0 } };
    const promptTokens = engine.tokenizer.encode(LONG, { addSpecial: true }).length;
    expect(promptTokens).toBeGreaterThan(4 * 16);
    let runnerTokens = 0;
    let joinedAt = -1;
    let firstLongTokenAt = -1;
    let longRun: Promise<PoolResult> | undefined;
    const running = pooled(worker, runner, () => {
      runnerTokens++;
      if (runnerTokens === 2) {
        joinedAt = runnerTokens;
        longRun = pooled(worker, long, () => {
          if (firstLongTokenAt < 0) firstLongTokenAt = runnerTokens;
        });
      }
    });
    await running;
    const longResult = await longRun!;
    expect(asPlain(longResult)).toEqual(await alone(engine, long));
    // the prompt took at least promptTokens / 15 steps (15 tokens left beside the one decode), each of which
    // also decoded a token of the running generation; in one pass it would have let through at most one
    expect(firstLongTokenAt - joinedAt).toBeGreaterThanOrEqual(Math.floor(promptTokens / 15) - 1);
  });
});

describe("the KV cache type", () => {
  it("reaches the worker's engine: an f16 worker's positions take half the bytes, and it generates what an f16 engine alone does", async () => {
    const f32 = await started({ name: "f32", path: NANO, slots: 1, kvCacheType: "f32" });
    const f16 = await started({ name: "f16", path: NANO, slots: 1, kvCacheType: "f16" });
    const engine = await loadEngine(NANO, { threads: 1, kvCacheType: "f16" });
    try {
      const wide = (await f32.ready).kvBytesPerToken ?? 0;
      expect(wide).toBeGreaterThan(0);
      expect((await f16.ready).kvBytesPerToken).toBe(wide / 2);
      const ask: Ask = { text: "Once upon a time", maxTokens: 16, sampling: { temperature: 0.8, seed: 4 } };
      expect(asPlain(await pooled(f16, ask))).toEqual(await alone(engine, ask));
    } finally {
      await Promise.all([f32.close(), f16.close(), engine.close()]);
    }
  });
});

describe("the KV budget", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await loadEngine(NANO, { threads: 1 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  // nano's context is 256; a 250-token budget holds the long generation (prompt + 240 + 1) and nothing beside it
  const BUDGET = 250;
  const ask = (text: string, maxTokens = 60): Ask => ({ text, maxTokens, sampling: { temperature: 0 } });

  it("holds a generation that does not fit until a cancel frees the budget at the next step", async () => {
    const worker = await started({ name: "kv", path: NANO, slots: 2, kvTokenBudget: BUDGET, maxKvWaitMs: 60_000 });
    try {
      expect(worker.kvTokenCapacity).toBe(BUDGET);
      const controller = new AbortController();
      let firstTokens = 0;
      let second: Promise<PoolResult> | undefined;
      const seen: Array<{ running: number; waiting: number; reserved: number }> = [];
      const first = pooled(
        worker,
        ask("Once upon a time", 240),
        () => {
          firstTokens++;
          if (firstTokens === 2) second = pooled(worker, ask("Hi there"));
          // the worker says it holds the second (its message comes in order with the first's tokens): cancel
          if (worker.waiting === 1 && !controller.signal.aborted) {
            seen.push({ running: worker.running, waiting: worker.waiting, reserved: worker.kvTokensReserved });
            controller.abort();
          }
        },
        controller.signal,
      );
      await expect(first).rejects.toBeInstanceOf(GenerationAbortedError);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.running).toBe(1);
      expect(seen[0]!.reserved).toBeGreaterThan(BUDGET - 64);
      expect(seen[0]!.reserved).toBeLessThanOrEqual(BUDGET);
      const result = await second!;
      expect(asPlain(result)).toEqual(await alone(engine, ask("Hi there")));
      expect(firstTokens).toBeLessThan(240);
      expect(worker.running).toBe(0);
      expect(worker.waiting).toBe(0);
      expect(worker.kvTokensReserved).toBe(0);
    } finally {
      await worker.close();
    }
  });

  it("refuses a generation that waited its bound, and one that can never fit is a request fault", async () => {
    const worker = await started({ name: "kv", path: NANO, slots: 2, kvTokenBudget: BUDGET, maxKvWaitMs: 20 });
    try {
      const controller = new AbortController();
      let refused: Promise<PoolResult> | undefined;
      let tokens = 0;
      const first = pooled(
        worker,
        ask("Once upon a time", 240),
        () => {
          tokens++;
          if (tokens === 1) refused = pooled(worker, ask("Hi there"));
        },
        controller.signal,
      );
      first.catch(() => undefined);
      await vi.waitFor(() => expect(refused).toBeDefined(), { timeout: 30_000, interval: 5 });
      const error = await refused!.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KvBudgetExhaustedError);
      expect(error).toBeInstanceOf(CapacityError);
      expect(error).toMatchObject({ limit: BUDGET });
      controller.abort();
      await expect(first).rejects.toBeInstanceOf(GenerationAbortedError);

      // prompt + max_tokens beyond the budget (though within the context): it could never run
      const prompt = engine.tokenizer.encode("Hi", { addSpecial: true }).length;
      const maxTokens = engine.contextLength - prompt;
      expect(prompt + maxTokens).toBeGreaterThan(BUDGET);
      const never = worker.generate({ input: { kind: "text", text: "Hi" }, maxTokens, strictMaxTokens: true });
      await expect(never).rejects.toBeInstanceOf(ContextOverflowError);
      await expect(never).rejects.toMatchObject({ capacity: BUDGET, param: "max_tokens" });
      // a ceiling max_tokens is cut to what the budget leaves
      const cut = await worker.generate({ input: { kind: "text", text: "Hi" }, maxTokens, ignoreEos: true });
      expect(cut.promptTokens + cut.completionTokens).toBe(BUDGET);
      expect(cut.finishReason).toBe("length");
    } finally {
      await worker.close();
    }
  });
});
