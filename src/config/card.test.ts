import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readModelCard, resolveVariantFigures } from "./card.js";

const dir = () => mkdtempSync(join(tmpdir(), "tg-card-"));
const entry = (file: string, quality: number, prefill: number, decode: number) => ({
  name: "tiny",
  family: "tiny",
  engine: "bitnet",
  format: "GGUF TQ2_0",
  file,
  sha256: "0".repeat(64),
  parameters: 10,
  linearParameters: 8,
  bytesOnDisk: 100,
  linearBytes: 20,
  quality: { split: "test", tokens: 50, perplexity: 12, top1Accuracy: 0.2, quality },
  prefillTokensPerSecond: prefill,
  decodeTokensPerSecond: decode,
});
const inline = { quality: undefined, card: { prefillTokensPerSecond: 100, decodeTokensPerSecond: 10 } };

describe("model cards", () => {
  it("reads quality and rates from card.json beside the model", () => {
    const d = dir();
    writeFileSync(
      join(d, "card.json"),
      JSON.stringify({
        ...entry("model.gguf", 0.8, 5000, 400),
        alternatives: [entry("model-i2_s.gguf", 1.2, 6000, 300)],
      }),
    );
    expect(readModelCard(join(d, "model.gguf"))).toEqual({
      path: join(d, "card.json"),
      quality: 0.8,
      prefillTokensPerSecond: 5000,
      decodeTokensPerSecond: 400,
    });
    // a file the card lists under alternatives has its own figures; a quality above 1 counts as 1
    expect(readModelCard(join(d, "model-i2_s.gguf"))).toEqual({
      path: join(d, "card.json"),
      quality: 1,
      prefillTokensPerSecond: 6000,
      decodeTokensPerSecond: 300,
    });
    expect(readModelCard(join(dir(), "model.gguf"))).toBeUndefined();
  });

  it("names a broken card", () => {
    const d = dir();
    writeFileSync(join(d, "card.json"), "{nope");
    expect(() => readModelCard(join(d, "model.gguf"))).toThrow(/card\.json: not valid JSON/);
    writeFileSync(
      join(d, "card.json"),
      JSON.stringify({ ...entry("model.gguf", 0.8, 5000, 400), decodeTokensPerSecond: -1 }),
    );
    expect(() => readModelCard(join(d, "model.gguf"))).toThrow(
      /card\.json: not a model card \(decodeTokensPerSecond: /,
    );
  });

  it("config quality beats the card, the card beats the assumption; the card's rates seed the averages", () => {
    const card = { path: "c", quality: 0.7, prefillTokensPerSecond: 900, decodeTokensPerSecond: 90 };
    expect(resolveVariantFigures({ ...inline, quality: 0.9 }, card, false, 0.5)).toMatchObject({
      quality: 0.9,
      qualitySource: "config",
    });
    expect(resolveVariantFigures(inline, card, false, 0.5)).toEqual({
      quality: 0.7,
      qualitySource: "card",
      prefillTokensPerSecond: 900,
      decodeTokensPerSecond: 90,
    });
    expect(resolveVariantFigures(inline, undefined, false, 0.5)).toEqual({
      quality: 0.5,
      qualitySource: "assumed",
      prefillTokensPerSecond: 100,
      decodeTokensPerSecond: 10,
    });
    expect(resolveVariantFigures(inline, undefined, true, 0.5)).toMatchObject({
      quality: 1,
      qualitySource: "reference",
    });
  });
});
