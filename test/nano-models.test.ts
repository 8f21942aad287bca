/**
 * The committed nano family, measured here rather than trusted from its cards: the files are the
 * ones the cards describe, QAT beats post-training ternarization, and the ternary model writes
 * English-like text.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pairsToNeoXRowSource, permuteRows } from "../src/convert/tensors.js";
import { readBitNetConfig } from "../src/engines/bitnet/config.js";
import { loadEngine } from "../src/engines/load.js";
import { evaluateVariant } from "../src/eval/index.js";
import { readGGUF, TENSOR_TYPES, writeGGUF } from "../src/formats/gguf/index.js";
import { loadCorpus } from "../src/train/corpus/load.js";
import { ensureTokenFiles, NANO_DATA_DIR } from "../src/train/corpus/prepare-data.js";
import { readTokenFile } from "../src/train/run/data.js";

const MODELS = join(import.meta.dirname, "..", "models", "nano");
const model = (variant: string, file: string) => join(MODELS, variant, file);
let test: Uint16Array;
const scratch = mkdtempSync(join(tmpdir(), "tritgate-nano-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The GGUF with each head's Q/K rows put back in the consecutive-pair layout the family was trained in. */
async function pairedLayout(path: string, out: string): Promise<void> {
  const file = await readGGUF(path);
  const c = readBitNetConfig(file);
  const tensors = file.tensors.map((t) => {
    const data = file.tensorData(t.name);
    const match = /^blk\.\d+\.attn_(q|k)\.weight$/.exec(t.name);
    if (!match) return { name: t.name, type: t.type, dims: t.dims, data };
    const source = pairsToNeoXRowSource(match[1] === "q" ? c.heads : c.kvHeads, c.headDim);
    const back = new Int32Array(source.length);
    source.forEach((from, to) => {
      back[from] = to;
    });
    const info = TENSOR_TYPES[t.type];
    const rowBytes = ((t.dims[0] ?? 0) / info.block) * info.blockBytes;
    const rows = permuteRows(data.subarray(0, back.length * rowBytes), back, rowBytes);
    const whole = data.slice();
    whole.set(rows);
    return { name: t.name, type: t.type, dims: t.dims, data: whole };
  });
  await writeGGUF(out, { metadata: file.metadata, tensors, alignment: file.alignment });
}

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

  it("its Q/K rows are in NeoX order: the consecutive-pair layout it was trained in scores far worse now", async () => {
    const measure = (path: string) =>
      evaluateVariant({
        model: path,
        tokens: test,
        window: 257,
        maxTokens: 8 * 257,
        threads: 1,
        speed: { promptTokens: 4, newTokens: 2 },
      });
    const paired = join(scratch, "paired.gguf");
    await pairedLayout(model("nano-b158", "model.gguf"), paired);
    const [committed, old] = [await measure(model("nano-b158", "model.gguf")), await measure(paired)];
    expect(committed.perplexity).toBeLessThan(old.perplexity * 0.8);
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
