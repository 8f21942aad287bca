import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { randomQ6K } from "../../../test/helpers/q6k.js";
import { encodeGGUF, GGUFError, parseGGUF } from "../../formats/gguf/index.js";
import { logitsSessionContract } from "../contract.js";
import { ContextOverflowError } from "../errors.js";
import { BitNetForward, bitnetEngineFromFile, loadBitNetEngine, syntheticBitNet } from "./index.js";
import { TINY_BITNET } from "./testkit.js";

const engine = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));

logitsSessionContract("BitNetEngine on a tiny synthetic TQ2_0 model", {
  load: () => engine,
  tokens: [256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33],
  tolerance: 1e-4,
});

describe("the BitNet engine generates through tokenizer, sampler and KV cache", () => {
  it("encodes with a BOS first and stops after maxTokens", async () => {
    const prompt = engine.tokenizer.encode("Hello there", { addSpecial: true });
    expect(prompt[0]).toBe(256); // <|bos|>
    const result = await engine.generate({
      prompt,
      maxTokens: 12,
      sampling: { temperature: 1, seed: 7 },
      ignoreEos: true,
    });
    expect(result.finishReason).toBe("length");
    expect(result.completionTokens).toBe(12);
    expect(result.promptTokens).toBe(prompt.length);
  });

  it("stops at a stop string and never emits it", async () => {
    const free = await engine.generate({
      prompt: engine.tokenizer.encode("x", { addSpecial: true }),
      maxTokens: 20,
      sampling: { temperature: 0 },
      ignoreEos: true,
    });
    const stopAt = free.text.slice(3, 5);
    expect(stopAt.length).toBe(2);
    const stopped = await engine.generate({
      prompt: engine.tokenizer.encode("x", { addSpecial: true }),
      maxTokens: 20,
      sampling: { temperature: 0 },
      ignoreEos: true,
      stop: [stopAt],
    });
    expect(stopped.finishReason).toBe("stop");
    expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stopAt)));
  });

  it("an aborted request ends with finish reason abort", async () => {
    const controller = new AbortController();
    const result = await engine.generate(
      {
        prompt: engine.tokenizer.encode("x", { addSpecial: true }),
        maxTokens: 50,
        ignoreEos: true,
        signal: controller.signal,
      },
      (t) => t && controller.abort(),
    );
    expect(result.finishReason).toBe("abort");
    expect(result.completionTokens).toBe(1);
  });

  it("chat messages go through the model's template", () => {
    const ids = engine.encodeChat([{ role: "user", content: "hi" }]);
    // the model adds BOS and its template does not write one: exactly one BOS, first
    expect(engine.tokenizer.decode(ids)).toBe("<|bos|><|user|>hi<|endoftext|><|assistant|>");
    expect(ids.filter((id) => id === 256)).toEqual([256]);
    expect(ids[0]).toBe(256);
  });

  it("a request reserves KV cache for the positions it can use, not the whole context", async () => {
    const fresh = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));
    const newCache = vi.spyOn(BitNetForward.prototype, "newCache");
    try {
      await fresh.generate({ prompt: [256, 72, 105], maxTokens: 4, ignoreEos: true });
      expect(newCache).toHaveBeenCalledWith(3 + 4 + 1);
      expect(newCache.mock.results[0]?.value.capacity).toBe(8);
    } finally {
      newCache.mockRestore();
    }
  });

  it("a prompt that fills the context is refused before any work; generation stops at the context end", async () => {
    const long = Array.from({ length: 64 }, (_, i) => 65 + (i % 26));
    await expect(engine.generate({ prompt: long, maxTokens: 4 })).rejects.toBeInstanceOf(ContextOverflowError);
    const nearlyFull = long.slice(0, 60);
    const result = await engine.generate({ prompt: nearlyFull, maxTokens: 50, ignoreEos: true });
    // 4 tokens fill the cache; the 5th is sampled from the last position's logits
    expect(result.completionTokens).toBe(5);
    expect(result.finishReason).toBe("length");
  });
});

describe("the KV cache type (kvCacheType)", () => {
  const file = parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf");
  const prompt = [256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33];

  it("an f16 cache holds halves, half the bytes per position, and stays within fp16 rounding of f32", async () => {
    // float activations: int8 quantization of the attention output would turn fp16's small moves into rounding flips
    const wide = bitnetEngineFromFile(file, { kvCacheType: "f32", activations: "float" });
    const half = bitnetEngineFromFile(file, { kvCacheType: "f16", activations: "float" });
    const c = TINY_BITNET;
    expect(wide.kvBytesPerToken).toBe(c.layers * 2 * c.kvHeads * (c.embedding / c.heads) * 4);
    expect(half.kvBytesPerToken).toBe(wide.kvBytesPerToken / 2);
    const newCache = vi.spyOn(BitNetForward.prototype, "newCache");
    try {
      const a = await wide.newSession(32).append(prompt);
      const b = await half.newSession(32).append(prompt);
      const layers = newCache.mock.results.map((r) => r.value.layers[0]);
      expect(layers[0]?.keys).toBeInstanceOf(Float32Array);
      expect(layers[1]?.keys).toBeInstanceOf(Uint16Array);
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
        scale = Math.max(scale, Math.abs(a[i] ?? 0));
      }
      // different bits (the cache is really fp16), but only by what 11-bit keys and values move
      expect(worst).toBeGreaterThan(0);
      expect(worst).toBeLessThan(1e-2 * scale);
    } finally {
      newCache.mockRestore();
    }
  });

  it("defaults to f32 unless asked", () => {
    expect(bitnetEngineFromFile(file).kvBytesPerToken).toBe(
      bitnetEngineFromFile(file, { kvCacheType: "f32" }).kvBytesPerToken,
    );
  });
});

describe("KV caches are reused across sessions", () => {
  it("a closed session's cache serves the next request of a similar size, reset to empty", async () => {
    const fresh = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));
    const prompt = [256, 72, 101, 108, 108, 111];
    const reference = await fresh.newSession(12).append(prompt);
    const first = fresh.newSession(12);
    await first.append([256, 33, 34, 35, 36, 37, 38, 39]);
    first.close?.();
    expect(fresh.pooledCaches).toBe(1);
    const newCache = vi.spyOn(BitNetForward.prototype, "newCache");
    try {
      const second = fresh.newSession(10); // fits the pooled cache of 12 without wasting half of it
      expect(newCache).not.toHaveBeenCalled();
      expect(second.length).toBe(0);
      expect(Array.from(await second.append(prompt))).toEqual(Array.from(reference));
      expect(fresh.pooledCaches).toBe(0);
      // a much smaller request does not take a cache four times its size
      first.close?.(); // closing twice returns nothing twice
      second.close?.();
      fresh.newSession(3);
      expect(newCache).toHaveBeenCalledWith(3);
      expect(fresh.pooledCaches).toBe(1);
    } finally {
      newCache.mockRestore();
    }
    await expect(first.append([1])).rejects.toThrow(/closed/);
  });

  it("generate hands its cache back when it finishes", async () => {
    const fresh = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));
    await fresh.generate({ prompt: [256, 72, 105], maxTokens: 4, ignoreEos: true });
    expect(fresh.pooledCaches).toBe(1);
  });
});

describe("loading", () => {
  const dir = mkdtempSync(join(tmpdir(), "tg-bitnet-"));

  it("a file without a tokenizer is a load error naming the file", () => {
    const spec = syntheticBitNet(TINY_BITNET);
    const bytes = encodeGGUF({ ...spec, metadata: [...spec.metadata].filter(([k]) => !k.startsWith("tokenizer.")) });
    expect(() => bitnetEngineFromFile(parseGGUF(bytes, "no-vocab.gguf"))).toThrow(
      /no-vocab\.gguf: has no tokenizer \(tokenizer\.ggml\.model and tokenizer\.ggml\.tokens are required\)/,
    );
  });

  it("a truncated file on disk is a load error, and the process carries on", async () => {
    const path = join(dir, "cut.gguf");
    const bytes = encodeGGUF(syntheticBitNet(TINY_BITNET));
    writeFileSync(path, bytes.subarray(0, bytes.byteLength - 1000));
    await expect(loadBitNetEngine(path)).rejects.toBeInstanceOf(GGUFError);
    await expect(loadBitNetEngine(path)).rejects.toThrow(/cut\.gguf: truncated/);
  });
});

describe("token embeddings as llama.cpp writes them", () => {
  it("a tied Q6_K token_embd runs like the same values held as F32 (lookup exact, head within float rounding)", () => {
    const { weight, values } = randomQ6K(TINY_BITNET.vocab, TINY_BITNET.embedding, 3);
    // a fresh spec per file: its tensors draw from one seeded stream as they are encoded
    const withEmbedding = (type: "Q6_K" | "F32", data: Uint8Array, spec = syntheticBitNet(TINY_BITNET)) =>
      bitnetEngineFromFile(
        parseGGUF(
          encodeGGUF({
            ...spec,
            tensors: spec.tensors.map((t) => (t.name === "token_embd.weight" ? { ...t, type, data } : t)),
          }),
          `tiny-${type}.gguf`,
        ),
      );
    const q6 = withEmbedding("Q6_K", weight.data);
    const f32 = withEmbedding("F32", new Uint8Array(values.buffer));
    const logits = (e: typeof q6) => e.newSession().append([1, 2, 3, 300 % TINY_BITNET.vocab]);
    return Promise.all([logits(q6), logits(f32)]).then(([got, want]) => {
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < want.length; i++) expect(Math.abs((got[i] ?? 0) - (want[i] ?? 0))).toBeLessThan(1e-4 * scale);
    });
  });
});
