import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { logitsSessionContract } from "../contract.js";
import { ContextOverflowError, ModelLoadError } from "../errors.js";
import { TINY_SPECIAL } from "../tokenizer/testkit.js";
import { defaultThreads, loadOnnxEngine, type OnnxEngine } from "./engine.js";
import { maxDiff, stubDecoder, type TinyDecoderSpec, tinyDecoder, writeModelDir } from "./testkit.js";

const root = mkdtempSync(join(tmpdir(), "tritgate-onnx-"));
const engines: OnnxEngine[] = [];
let dirs = 0;
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  rmSync(root, { recursive: true, force: true });
});

function modelDir(bytes: Uint8Array, options?: Parameters<typeof writeModelDir>[2]): string {
  return writeModelDir(join(root, `m${dirs++}`), bytes, options);
}

async function load(spec: TinyDecoderSpec = {}, options: { contextLength?: number } = {}): Promise<OnnxEngine> {
  const engine = await loadOnnxEngine(modelDir(tinyDecoder(spec).bytes), { threads: 1, ...options });
  engines.push(engine);
  return engine;
}

async function expectLoadError(path: string, pattern: RegExp): Promise<void> {
  const err = await loadOnnxEngine(path, { threads: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelLoadError);
  expect((err as ModelLoadError).file).toBe(path);
  expect((err as Error).message).toContain(path);
  expect((err as Error).message).toMatch(pattern);
}

const TOKENS = [TINY_SPECIAL.bos, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33];

const VARIANTS: ReadonlyArray<[string, TinyDecoderSpec]> = [
  ["float32 KV with position_ids", {}],
  ["no position_ids (positions from attention_mask)", { positionIds: false }],
  [
    "float16 KV and logits, inputs in another order",
    { kvType: "float16", logitsType: "float16", inputOrder: "shuffled" },
  ],
  [
    "float16 KV, no position_ids, 3 layers of 6 heads over 3 KV heads",
    {
      kvType: "float16",
      positionIds: false,
      layers: 3,
      hidden: 24,
      heads: 6,
      kvHeads: 3,
      inputOrder: "shuffled",
    },
  ],
];

for (const [label, spec] of VARIANTS) {
  logitsSessionContract(`OnnxEngine on a tiny decoder: ${label}`, {
    load: () => load(spec),
    tokens: TOKENS,
    tolerance: 1e-4,
    // onnxruntime computes the last position of appendAll exactly as append does
    lastRowTolerance: 0,
  });
}

describe.each(VARIANTS)("OnnxEngine on a tiny decoder: %s", (_, spec) => {
  it("discovers layers, KV heads, head size and dtypes from the graph", async () => {
    const engine = await load(spec);
    const model = tinyDecoder(spec);
    expect(engine.kind).toBe("onnx");
    expect(engine.signature).toMatchObject({
      layers: model.layers,
      kvHeads: model.kvHeads,
      headDim: model.headDim,
      valueDim: model.headDim,
      kvType: spec.kvType ?? "float32",
      logitsType: spec.logitsType ?? "float32",
      vocabSize: 300,
    });
    expect(engine.signature.positionIdsType).toBe(spec.positionIds === false ? undefined : "int64");
    expect(engine.vocabSize).toBe(300);
    expect(engine.contextLength).toBe(64);
    if (spec.inputOrder === "shuffled") expect(model.inputNames[0]).toMatch(/^past_key_values\./);
  });

  it("positions matter: the same last token seen at another position gives other logits", async () => {
    // so a session feeding wrong positions or masks could not pass the contract's prefill checks
    const engine = await load(spec);
    const full = await engine.newSession().append(TOKENS);
    const shifted = await engine.newSession().append(TOKENS.slice(1));
    expect(maxDiff(shifted, full)).toBeGreaterThan(1e-2);
  });
});

describe("OnnxEngine", () => {
  it("graphs that derive positions themselves agree with graphs fed position_ids", async () => {
    const fed = await load({ seed: 3 });
    const derived = await load({ seed: 3, positionIds: false, inputOrder: "shuffled" });
    const a = fed.newSession();
    const b = derived.newSession();
    await a.append(TOKENS.slice(0, 6));
    await b.append(TOKENS.slice(0, 6));
    expect(maxDiff(await a.append([7]), await b.append([7]))).toBeLessThan(1e-5);
  });

  it("converts float16 logits to float32", async () => {
    const f32 = await load({ seed: 4 });
    const f16 = await load({ seed: 4, logitsType: "float16" });
    const a = await f32.newSession().append(TOKENS);
    const b = await f16.newSession().append(TOKENS);
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs((b[i] as number) - (a[i] as number))).toBeLessThanOrEqual(
        Math.abs(a[i] as number) * 2 ** -10 + 1e-6,
      );
    }
  });

  it("chat messages go through the model's template", async () => {
    const engine = await load();
    const prompt = engine.encodeChat([{ role: "user", content: "Hi" }]);
    expect(prompt).toEqual(engine.tokenizer.encode("user: Hi<|eot_id|>", { addSpecial: true, parseSpecial: true }));
  });

  it("generate stops at a stop string", async () => {
    const engine = await load({ seed: 2 });
    // only lowercase ASCII letters may be sampled, so the text is plain and a stop string is easy to pick
    const logitBias: Record<number, number> = {};
    for (let id = 0; id < 300; id++) if (id < 97 || id > 122) logitBias[id] = -100;
    const request = {
      prompt: TOKENS,
      maxTokens: 16,
      ignoreEos: true,
      sampling: { seed: 7, temperature: 1, logitBias },
    };
    const free = await engine.generate(request);
    expect(free.text).toMatch(/^[a-z]{16}$/);
    const stop = free.text.slice(6, 8);
    const cut = free.text.indexOf(stop);
    const stopped = await engine.generate({ ...request, stop: [stop] });
    expect(stopped.finishReason).toBe("stop");
    expect(stopped.text).toBe(free.text.slice(0, cut));
    expect(stopped.completionTokens).toBe(cut + 2);
  });

  it("context length comes from config.json, --ctx caps it, and overflow is a ContextOverflowError", async () => {
    const engine = await load({}, { contextLength: 12 });
    expect(engine.contextLength).toBe(12);
    const session = engine.newSession();
    expect(session.capacity).toBe(12);
    await expect(session.append(TOKENS.slice(0, 13))).rejects.toBeInstanceOf(ContextOverflowError);
    expect(session.length).toBe(0);
    await session.append(TOKENS.slice(0, 10));
    await expect(session.append([1, 2, 3])).rejects.toThrow(/needs 13 tokens .* holds 12/);
    expect(session.length).toBe(10);
    await session.append([1, 2]);
    await expect(session.append([3])).rejects.toBeInstanceOf(ContextOverflowError);
    expect(engine.newSession(6).capacity).toBe(6);
    expect(engine.newSession(100).capacity).toBe(12);
    await expect(engine.generate({ prompt: TOKENS, maxTokens: 4 })).rejects.toBeInstanceOf(ContextOverflowError);
    // a session cut short by its capacity ends with "length"
    const short = await engine.generate({ prompt: TOKENS.slice(0, 8), maxTokens: 50, ignoreEos: true });
    expect(short.finishReason).toBe("length");
    expect(short.completionTokens).toBe(5);

    const capped = await load({}, { contextLength: 1000 });
    expect(capped.contextLength).toBe(64);
    const noConfig = await loadOnnxEngine(modelDir(tinyDecoder().bytes, { maxPositions: null }), {
      threads: 1,
      contextLength: 32,
    });
    engines.push(noConfig);
    expect(noConfig.contextLength).toBe(32);
  });

  it("rejects token ids outside the vocabulary and appends after close", async () => {
    const engine = await loadOnnxEngine(modelDir(tinyDecoder().bytes), { threads: 1 });
    const session = engine.newSession();
    await expect(session.append([300])).rejects.toThrow(RangeError);
    await expect(session.append([])).rejects.toThrow(/at least one token/);
    await engine.close();
    await expect(session.append([1])).rejects.toThrow(/closed/);
  });
});

describe("defaultThreads", () => {
  it("takes the option, then TRITGATE_THREADS, then the physical core count", async () => {
    const saved = process.env.TRITGATE_THREADS;
    try {
      process.env.TRITGATE_THREADS = "3";
      expect(await defaultThreads(2)).toBe(2);
      expect(await defaultThreads()).toBe(3);
      process.env.TRITGATE_THREADS = "many";
      await expect(defaultThreads()).rejects.toThrow(/TRITGATE_THREADS/);
      delete process.env.TRITGATE_THREADS;
      expect(await defaultThreads()).toBeGreaterThanOrEqual(1);
      await expect(defaultThreads(0)).rejects.toThrow(RangeError);
    } finally {
      if (saved === undefined) delete process.env.TRITGATE_THREADS;
      else process.env.TRITGATE_THREADS = saved;
    }
  });
});

describe("loadOnnxEngine rejects bad input with a ModelLoadError", () => {
  const kv = (heads: number | string, dim: number | string) => ({ heads, dim });

  it("a graph without input_ids", async () => {
    await expectLoadError(modelDir(stubDecoder({ inputIdsName: "tokens", past: [kv(2, 8)] })), /no input_ids input/);
  });

  it("a graph without logits", async () => {
    await expectLoadError(modelDir(stubDecoder({ logitsName: "scores", past: [kv(2, 8)] })), /no logits output/);
  });

  it("past and present counts that do not pair up", async () => {
    const path = modelDir(stubDecoder({ past: [kv(2, 8), kv(2, 8)], presentLayers: 1 }));
    await expectLoadError(path, /do not pair up/);
  });

  it("KV head dims that disagree between layers", async () => {
    await expectLoadError(modelDir(stubDecoder({ past: [kv(2, 8), kv(2, 16)] })), /disagree between layers/);
  });

  it("symbolic KV dims", async () => {
    await expectLoadError(modelDir(stubDecoder({ past: [kv("kv_heads", "head_dim")] })), /symbolic/);
    await expectLoadError(modelDir(tinyDecoder({ symbolicKvDims: true }).bytes), /symbolic/);
  });

  it("a corrupt file, wrapping onnxruntime's error", async () => {
    const bytes = tinyDecoder().bytes;
    await expectLoadError(modelDir(bytes.subarray(0, Math.floor(bytes.length / 3))), /onnxruntime cannot load it/);
    const path = modelDir(bytes);
    writeFileSync(path, "this is not an onnx model");
    await expectLoadError(path, /onnxruntime cannot load it/);
  });

  it("a missing tokenizer", async () => {
    await expectLoadError(modelDir(tinyDecoder().bytes, { tokenizer: false }), /tokenizer\.json.*not found/);
  });

  it("an unknown context length", async () => {
    await expectLoadError(modelDir(tinyDecoder().bytes, { maxPositions: null }), /--ctx/);
  });

  it("a missing file", async () => {
    await expectLoadError(join(root, "nowhere", "model.onnx"), /cannot open it/);
  });
});
