import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readModelCard, resolveVariantFigures } from "./card.js";

const dir = () => mkdtempSync(join(tmpdir(), "tg-card-"));
const inline = { quality: undefined, card: { prefillTokensPerS: 100, decodeTokensPerS: 10 } };

describe("model cards", () => {
  it("reads quality and rates from card.json beside the model", () => {
    const d = dir();
    writeFileSync(
      join(d, "card.json"),
      JSON.stringify({ quality: { quality: 0.8 }, prefillTokensPerS: 5000, decodeTokensPerS: 400 }),
    );
    expect(readModelCard(join(d, "model.gguf"))).toEqual({
      path: join(d, "card.json"),
      quality: 0.8,
      prefillTokensPerS: 5000,
      decodeTokensPerS: 400,
    });
    expect(readModelCard(join(dir(), "model.gguf"))).toBeUndefined();
  });

  it("names a broken card", () => {
    const d = dir();
    writeFileSync(join(d, "card.json"), "{nope");
    expect(() => readModelCard(join(d, "model.gguf"))).toThrow(/card\.json: not valid JSON/);
  });

  it("config quality beats the card, the card beats the assumption; the card's rates seed the averages", () => {
    const card = { path: "c", quality: 0.7, prefillTokensPerS: 900, decodeTokensPerS: 90 };
    expect(resolveVariantFigures({ ...inline, quality: 0.9 }, card, false, 0.5)).toMatchObject({
      quality: 0.9,
      qualitySource: "config",
    });
    expect(resolveVariantFigures(inline, card, false, 0.5)).toEqual({
      quality: 0.7,
      qualitySource: "card",
      prefillTokensPerS: 900,
      decodeTokensPerS: 90,
    });
    expect(resolveVariantFigures(inline, undefined, false, 0.5)).toEqual({
      quality: 0.5,
      qualitySource: "assumed",
      prefillTokensPerS: 100,
      decodeTokensPerS: 10,
    });
    expect(resolveVariantFigures(inline, undefined, true, 0.5)).toMatchObject({
      quality: 1,
      qualitySource: "reference",
    });
  });
});
