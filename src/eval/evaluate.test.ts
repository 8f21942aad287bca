/**
 * Evaluation on real engines: a BitNet GGUF with float linear layers and the ONNX twin exported
 * from it are the same model, so their all-position logits, perplexities and top-1 tokens agree.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertToOnnx } from "../convert/to-onnx.js";
import { type BitNetEngine, loadBitNetEngine, syntheticBitNet } from "../engines/bitnet/index.js";
import { loadOnnxEngine, type OnnxEngine } from "../engines/onnx/index.js";
import { writeGGUF } from "../formats/gguf/index.js";
import { type EvalResult, evaluateTokens, evaluateVariant, measureSpeed, writeEvalResult } from "./index.js";
import { engineScorer } from "./scorer.js";

const SPEC = { layers: 2, embedding: 256, feedForward: 512, heads: 4, kvHeads: 2, vocab: 270, contextLength: 64 };
const TEXT =
  "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of " +
  "foolishness, it was the epoch of belief, it was the epoch of incredulity.";

const root = mkdtempSync(join(tmpdir(), "tritgate-eval-"));
const floatGGUF = join(root, "nano-f32.gguf");
const ternaryGGUF = join(root, "nano-b158.gguf");
const twin = join(root, "model.onnx");
let bitnet: BitNetEngine;
let onnx: OnnxEngine;
let tokens: number[];

beforeAll(async () => {
  await writeGGUF(floatGGUF, syntheticBitNet({ ...SPEC, linearType: "F32", seed: 21 }));
  await writeGGUF(ternaryGGUF, syntheticBitNet({ ...SPEC, linearType: "TQ2_0", seed: 21 }));
  await convertToOnnx(floatGGUF, twin);
  bitnet = await loadBitNetEngine(floatGGUF);
  onnx = await loadOnnxEngine(twin, { threads: 1 });
  tokens = bitnet.tokenizer.encode(TEXT, { addSpecial: true });
  expect(onnx.tokenizer.encode(TEXT, { addSpecial: true })).toEqual(tokens);
  expect(tokens.length).toBeGreaterThan(100);
});

afterAll(async () => {
  await onnx?.close();
  rmSync(root, { recursive: true, force: true });
});

/** max |a − b| over max |b| */
function relativeDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

describe("all-position logits", () => {
  it("the BitNet engine and its ONNX twin agree at every position, and with prefill's last row", async () => {
    const window = tokens.slice(0, 24);
    const vocab = SPEC.vocab;
    const a = await engineScorer(bitnet).logits(window);
    const b = await engineScorer(onnx).logits(window);
    expect(a.length).toBe(window.length * vocab);
    expect(relativeDiff(b, a)).toBeLessThan(1e-4);
    // rows differ from position to position: a scorer repeating one row could not pass
    expect(relativeDiff(a.subarray(0, vocab), a.subarray(vocab, 2 * vocab))).toBeGreaterThan(1e-2);
    const lastRow = (all: Float32Array) => all.subarray((window.length - 1) * vocab);
    expect(relativeDiff(lastRow(a), await bitnet.newSession().append(window))).toBeLessThan(1e-6);
    expect(relativeDiff(lastRow(b), await onnx.newSession().append(window))).toBeLessThan(1e-6);
  });
});

describe("evaluateTokens on engines", () => {
  it("the twin's perplexity is the GGUF's and their top-1 tokens agree everywhere", async () => {
    const result = await evaluateTokens(engineScorer(onnx), tokens, {
      window: 32,
      reference: engineScorer(bitnet),
    });
    expect(result.tokens).toBe(tokens.length - result.windows);
    expect(result.top1Agreement).toBe(1);
    expect(Math.abs(result.perplexity / (result.reference?.perplexity as number) - 1)).toBeLessThan(1e-4);
    expect(result.top1Accuracy).toBe(result.reference?.top1Accuracy);
    // random weights know nothing of English: perplexity is far above 1, below nothing useful
    expect(result.perplexity).toBeGreaterThan(10);
  });

  it("a model against itself: agreement 1, reference perplexity equal to its own", async () => {
    const scorer = engineScorer(bitnet);
    const result = await evaluateTokens(scorer, tokens, { window: 16, stride: 8, reference: scorer });
    expect(result.top1Agreement).toBe(1);
    expect(result.reference?.perplexity).toBe(result.perplexity);
    expect(result.tokens).toBe(tokens.length - 1);
  });

  it("token ids past the engine's vocabulary and windows past its context are RangeErrors", async () => {
    const scorer = engineScorer(bitnet);
    await expect(evaluateTokens(scorer, [1, 2, SPEC.vocab], { window: 8 })).rejects.toThrow(/^tokens\[2\] = 270/);
    await expect(evaluateTokens(scorer, tokens, { window: 66 })).rejects.toThrow(/^window 66 needs 65 positions/);
    expect((await evaluateTokens(scorer, tokens, { window: 65 })).windows).toBeGreaterThan(1);
  });
});

describe("measureSpeed", () => {
  it("times a prefill and greedy decode steps, scaled to a short context by default", async () => {
    const speed = await measureSpeed(bitnet);
    expect(speed).toMatchObject({ promptTokens: 42, newTokens: 21 });
    expect(speed.prefillTokensPerSecond).toBeCloseTo((1000 * 42) / speed.prefillMs, 6);
    expect(speed.decodeTokensPerSecond).toBeCloseTo((1000 * 21) / speed.decodeMs, 6);
    for (const v of [speed.prefillTokensPerSecond, speed.decodeTokensPerSecond]) {
      expect(Number.isFinite(v) && v > 0).toBe(true);
    }
    const small = await measureSpeed(onnx, { promptTokens: 8, newTokens: 4, source: tokens });
    expect(small).toMatchObject({ promptTokens: 8, newTokens: 4 });
    await expect(measureSpeed(bitnet, { promptTokens: 60, newTokens: 5 })).rejects.toThrow(
      /^promptTokens \+ newTokens/,
    );
    await expect(measureSpeed(bitnet, { newTokens: 0 })).rejects.toThrow(/^newTokens must be/);
  });
});

describe("evaluateVariant", () => {
  it("measures the twin against the GGUF reference: quality 1, full agreement, speed, size", async () => {
    const result = await evaluateVariant({ model: twin, reference: floatGGUF, tokens, window: 32, threads: 1 });
    expect(result).toMatchObject({
      model: twin,
      engine: "onnx",
      reference: floatGGUF,
      window: 32,
      stride: 32,
      top1Agreement: 1,
      bytesOnDisk: statSync(twin).size,
      machine: { threads: 1 },
    });
    expect(result.quality).toBeCloseTo(1, 4);
    expect(result.quality).toBe((result.referencePerplexity as number) / result.perplexity);
    expect(result.nll).toBeCloseTo(Math.log(result.perplexity), 12);
    expect(result.tokens).toBe(tokens.length - result.windows);
    expect(result.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(result.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(result.rssBytes).toBeGreaterThan(0);
    expect(result.machine.cpu.length).toBeGreaterThan(0);
    expect(Date.parse(result.measuredAt)).toBeLessThanOrEqual(Date.now());

    const out = join(root, "cards", "nano-fp32.eval.json");
    await writeEvalResult(out, result);
    expect(JSON.parse(readFileSync(out, "utf8")) as EvalResult).toEqual(result);
  });

  it("a ternary variant against the float reference: q = ppl_ref / ppl; no reference, no quality", async () => {
    const result = await evaluateVariant({
      model: ternaryGGUF,
      reference: floatGGUF,
      tokens,
      window: 24,
      maxTokens: 60,
      threads: 1,
      speed: { promptTokens: 8, newTokens: 4 },
    });
    expect(result.engine).toBe("bitnet");
    expect(result.tokens).toBe(60 - 3); // windows of 24, 24, 12 tokens
    expect(result.quality).toBe((result.referencePerplexity as number) / result.perplexity);
    expect(result.top1Agreement).toBeGreaterThanOrEqual(0);
    expect(result.top1Agreement).toBeLessThanOrEqual(1);
    expect(result.bytesOnDisk).toBe(statSync(ternaryGGUF).size);
    expect(result.bytesOnDisk).toBeLessThan(statSync(floatGGUF).size);

    const alone = await evaluateVariant({ model: ternaryGGUF, tokens, window: 24, maxTokens: 60, threads: 1 });
    expect(alone.perplexity).toBe(result.perplexity);
    for (const key of ["reference", "top1Agreement", "referencePerplexity", "quality"]) {
      expect(alone).not.toHaveProperty(key);
    }
  });

  it("scores the model with its load options and the reference with its own: an f16 KV cache against f32", async () => {
    const common = { model: ternaryGGUF, reference: ternaryGGUF, tokens, window: 24, maxTokens: 60, threads: 1 };
    const speed = { promptTokens: 8, newTokens: 4 };
    const same = await evaluateVariant({ ...common, speed, load: { kvCacheType: "f32" } });
    expect(same.kvCacheType).toBe("f32");
    expect(same.quality).toBe(1);
    const half = await evaluateVariant({
      ...common,
      speed,
      load: { kvCacheType: "f16" },
      referenceLoad: { kvCacheType: "f32" },
    });
    expect(half.kvCacheType).toBe("f16");
    expect(half.referencePerplexity).toBe(same.perplexity);
    // the same model with its keys and values rounded to halves: another perplexity, but barely
    expect(half.perplexity).not.toBe(same.perplexity);
    expect(Math.abs((half.quality as number) - 1)).toBeLessThan(1e-2);
    // an ONNX model has no such cache: the result says nothing about it
    const onnxResult = await evaluateVariant({ model: twin, tokens, window: 24, maxTokens: 30, threads: 1, speed });
    expect(onnxResult).not.toHaveProperty("kvCacheType");
  });

  it("bad windows and streams fail before any model is loaded", async () => {
    const missing = join(root, "missing.gguf");
    await expect(evaluateVariant({ model: missing, tokens, window: 1 })).rejects.toThrow(/^window must be/);
    await expect(evaluateVariant({ model: missing, tokens: [], window: 8 })).rejects.toThrow(/^tokens must hold/);
    await expect(evaluateVariant({ model: missing, tokens, window: 8, maxTokens: -1 })).rejects.toThrow(
      /^maxTokens must be/,
    );
    await expect(evaluateVariant({ model: missing, tokens, window: 8, threads: 0 })).rejects.toThrow(
      /^threads must be/,
    );
  });
});
