import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatModelCard, measuredModelCardSchema, modelCardPath, parseModelCard } from "./index.js";

const NANO = join(import.meta.dirname, "../../../models/nano");
const VARIANTS = ["nano-b158", "nano-fp32", "nano-b158-ptq"];

describe("card.json", () => {
  it.each(VARIANTS)("the committed %s card is a measured card, written as the writers write it", (variant) => {
    const path = modelCardPath(join(NANO, variant, "model.gguf"));
    const text = readFileSync(path, "utf8");
    const card = parseModelCard(text, path, measuredModelCardSchema);
    expect(card.name).toBe(variant);
    expect(card.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(formatModelCard(card)).toBe(text);
  });

  it("keeps fields it does not name, and names the fields that do not fit", () => {
    const path = modelCardPath(join(NANO, "nano-b158", "model.gguf"));
    const card = parseModelCard(readFileSync(path, "utf8"), path);
    const extended = JSON.stringify({ ...card, license: "MIT" });
    expect(parseModelCard(extended, "x/card.json")).toMatchObject({ license: "MIT" });
    const wrong = JSON.stringify({ ...card, engine: "gpu", sha256: "abc" });
    expect(() => parseModelCard(wrong, "x/card.json")).toThrow(
      /^x\/card\.json: not a model card \(engine: .*; sha256: /,
    );
    // an entry written before it was measured is a card, not a measured one
    const { quality: _, ...unmeasured } = card;
    expect(parseModelCard(JSON.stringify(unmeasured), "x/card.json").quality).toBeUndefined();
    expect(() => parseModelCard(JSON.stringify(unmeasured), "x/card.json", measuredModelCardSchema)).toThrow(/quality/);
  });
});
