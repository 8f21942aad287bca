/**
 * generateWith's `logprobs: false`: the same tokens and text on the committed nano model, greedy and
 * seeded, with NaN only where the sampler skipped the log-partition (plain greedy steps).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine, GenerationRequest } from "./engine.js";
import { loadEngine } from "./load.js";

const NANO = join(import.meta.dirname, "../../models/nano/nano-b158/model.gguf");

describe("generateWith without the tokens' logprobs", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await loadEngine(NANO, { threads: 1 });
  });
  afterAll(() => engine.close());

  const ask = (request: Omit<GenerationRequest, "prompt">) =>
    engine.generate({ prompt: engine.tokenizer.encode("Once upon a time", { addSpecial: true }), ...request });

  it("greedy: the same tokens, text and finish, with NaN logprobs", async () => {
    const full = await ask({ maxTokens: 24, sampling: { temperature: 0 }, stop: ["\n\n"] });
    const bare = await ask({ maxTokens: 24, sampling: { temperature: 0 }, stop: ["\n\n"], logprobs: false });
    expect(bare.tokens.map((t) => t.id)).toEqual(full.tokens.map((t) => t.id));
    expect([bare.text, bare.finishReason]).toEqual([full.text, full.finishReason]);
    expect(full.tokens.every((t) => t.logprob <= 0)).toBe(true);
    expect(bare.tokens.every((t) => Number.isNaN(t.logprob))).toBe(true);
  });

  it("seeded sampling and alternatives: everything as with logprobs, bit for bit", async () => {
    for (const sampling of [
      { seed: 7, temperature: 0.8, topP: 0.9 },
      { temperature: 0, topLogprobs: 3 },
    ]) {
      const full = await ask({ maxTokens: 16, sampling, ignoreEos: true });
      const bare = await ask({ maxTokens: 16, sampling, ignoreEos: true, logprobs: false });
      expect(bare.tokens).toEqual(full.tokens);
      expect(bare.text).toBe(full.text);
    }
  });
});
