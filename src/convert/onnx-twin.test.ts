/**
 * A BitNet GGUF and the ONNX twin `tritgate convert --to onnx` makes of it are the same model:
 * same tokens in, same greedy text out, through each engine's own loader.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { run } from "../cli/main.js";
import { loadBitNetEngine, syntheticBitNet } from "../engines/bitnet/index.js";
import { loadOnnxEngine } from "../engines/onnx/index.js";
import { writeGGUF } from "../formats/gguf/index.js";

describe("tritgate convert --to onnx", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes an ONNX twin whose engine generates what the GGUF engine generates", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-twin-"));
    const gguf = join(dir, "twin.gguf");
    // float linear layers: the GGUF engine then runs plain fp32 math, as the ONNX graph does
    const spec = { layers: 2, embedding: 256, feedForward: 512, heads: 4, kvHeads: 2, vocab: 270, contextLength: 64 };
    await writeGGUF(gguf, syntheticBitNet({ ...spec, linearType: "F32", seed: 21 }));
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const onnxPath = join(dir, "model.onnx");
    expect(await run(["convert", "--from-gguf", gguf, "--to", "onnx", "--out", onnxPath])).toBe(0);
    expect(String(log.mock.calls[0]?.[0])).toMatch(/wrote .*model\.onnx: \d+ nodes/);

    const ternary = await loadBitNetEngine(gguf);
    const twin = await loadOnnxEngine(onnxPath);
    const prompt = ternary.tokenizer.encode("Hello, twin!", { addSpecial: true });
    expect(twin.tokenizer.encode("Hello, twin!", { addSpecial: true })).toEqual(prompt);
    const request = { prompt, maxTokens: 10, sampling: { temperature: 0 }, ignoreEos: true };
    const a = await ternary.generate(request);
    const b = await twin.generate(request);
    expect(b.tokens.map((t) => t.id)).toEqual(a.tokens.map((t) => t.id));
    expect(b.text).toBe(a.text);
    await twin.close();
  });

  it("the tokenizer.json it writes is read the same by Hugging Face's own tokenizer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-twin-hf-"));
    const gguf = join(dir, "m.gguf");
    await writeGGUF(
      gguf,
      syntheticBitNet({
        layers: 1,
        embedding: 256,
        feedForward: 256,
        heads: 4,
        kvHeads: 4,
        vocab: 264,
        contextLength: 32,
        linearType: "F32",
        seed: 3,
      }),
    );
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(await run(["convert", "--from-gguf", gguf, "--to", "onnx", "--out", join(dir, "model.onnx")])).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as object;
    const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as object;
    const ours = (await loadBitNetEngine(gguf)).tokenizer;
    const theirs = new HFTokenizer(json, config);
    for (const text of ["plain text", "  spaces\tand\nnewlines", "café ü 日本 🙂", "<|user|>hi<|endoftext|>"]) {
      expect(theirs.encode(text, { add_special_tokens: false }).ids, text).toEqual(
        ours.encode(text, { addSpecial: false }),
      );
    }
  });

  it("refuses what it cannot do with a usage error", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    expect(await run(["convert", "--from-hf", "x", "--to", "onnx", "--out", "y.onnx"])).toBe(2);
    expect(await run(["convert", "--from-gguf", "x.gguf", "--to", "tflite", "--out", "y"])).toBe(2);
  });
});
