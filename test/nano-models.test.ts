/**
 * The committed nano family, measured here rather than trusted from its cards: the files are the
 * ones the cards describe, QAT beats post-training ternarization, and the ternary model writes
 * English-like text.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadEngine } from "../src/engines/load.js";
import { evaluateVariant } from "../src/eval/index.js";
import { loadCorpus } from "../src/train/corpus/load.js";
import { ensureTokenFiles, NANO_DATA_DIR } from "../src/train/corpus/prepare-data.js";
import { readTokenFile } from "../src/train/run/data.js";

const MODELS = join(import.meta.dirname, "..", "models", "nano");
const model = (variant: string, file: string) => join(MODELS, variant, file);
let test: Uint16Array;

beforeAll(async () => {
  await ensureTokenFiles(NANO_DATA_DIR, () => {});
  test = await readTokenFile(join(NANO_DATA_DIR, "test.bin"), 4096);
}, 60_000);

describe("the committed nano family", () => {
  it("each card describes its committed file (sha256 and size)", () => {
    for (const variant of ["nano-b158", "nano-fp32", "nano-b158-ptq"]) {
      const card = JSON.parse(readFileSync(model(variant, "card.json"), "utf8")) as { file: string; sha256: string };
      const bytes = readFileSync(model(variant, card.file));
      expect(createHash("sha256").update(bytes).digest("hex"), variant).toBe(card.sha256);
    }
  });

  it("on held-out text, QAT ternary is close to fp32 and clearly better than post-training ternary", async () => {
    const measure = (path: string) =>
      evaluateVariant({
        model: path,
        tokens: test,
        window: 257,
        maxTokens: 8 * 257,
        threads: 1,
        speed: { promptTokens: 4, newTokens: 2 },
      });
    const [qat, fp32, ptq] = await Promise.all([
      measure(model("nano-b158", "model.gguf")),
      measure(model("nano-fp32", "model.onnx")),
      measure(model("nano-b158-ptq", "model.gguf")),
    ]);
    expect(qat.perplexity).toBeLessThan(ptq.perplexity * 0.8);
    expect(qat.perplexity / fp32.perplexity).toBeLessThan(1.5);
    expect(fp32.perplexity).toBeLessThan(200); // vocabulary 4096: chance is 4096
  }, 120_000);

  it("the ternary model writes English-like text: nearly every word it writes occurs in its corpus", async () => {
    const words = new Set<string>();
    for (const doc of await loadCorpus()) for (const w of doc.text.toLowerCase().match(/[a-z]+/g) ?? []) words.add(w);
    const engine = await loadEngine(model("nano-b158", "model.gguf"), { threads: 1 });
    try {
      const result = await engine.generate({
        prompt: engine.tokenizer.encode("The people of the United States"),
        maxTokens: 80,
        sampling: { temperature: 0.7, seed: 7, topP: 0.9 },
      });
      const written = result.text.toLowerCase().match(/[a-z]+/g) ?? [];
      expect(written.length).toBeGreaterThan(20);
      const known = written.filter((w) => words.has(w)).length;
      expect(known / written.length).toBeGreaterThan(0.9);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
