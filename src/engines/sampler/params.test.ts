import { describe, expect, it } from "vitest";
import { resolveSamplingParams, type SamplingParams, validateSamplingParams } from "./params.js";

describe("validateSamplingParams", () => {
  it("accepts an empty object and every value at the edge of its range", () => {
    expect(validateSamplingParams({})).toBeUndefined();
    const edges: SamplingParams[] = [
      { temperature: 0 },
      { temperature: 2 },
      { topP: 1 },
      { topP: 1e-9 },
      { topK: 0 },
      { topK: 128256 },
      { minP: 0 },
      { minP: 1 },
      { repetitionPenalty: 1e-3 },
      { frequencyPenalty: -2, presencePenalty: 2 },
      { penaltyWindow: -1 },
      { penaltyWindow: 0 },
      { seed: -5 },
      { seed: Number.MAX_SAFE_INTEGER },
      { topLogprobs: 0 },
      { topLogprobs: 20 },
      { logitBias: { 0: -100, 50256: 100 } },
    ];
    for (const p of edges) expect(validateSamplingParams(p), JSON.stringify(p)).toBeUndefined();
  });

  it.each([
    [{ temperature: -0.1 }, "temperature must be between 0 and 2"],
    [{ temperature: 2.01 }, "temperature must be between 0 and 2"],
    [{ temperature: Number.NaN }, "temperature must be between 0 and 2"],
    [{ topP: 0 }, "topP must be greater than 0 and at most 1"],
    [{ topP: 1.5 }, "topP must be greater than 0 and at most 1"],
    [{ topK: -1 }, "topK must be a non-negative integer"],
    [{ topK: 2.5 }, "topK must be a non-negative integer"],
    [{ minP: 1.1 }, "minP must be between 0 and 1"],
    [{ repetitionPenalty: 0 }, "repetitionPenalty must be a finite number greater than 0"],
    [{ repetitionPenalty: Number.POSITIVE_INFINITY }, "repetitionPenalty must be a finite number greater than 0"],
    [{ frequencyPenalty: 2.5 }, "frequencyPenalty must be between -2 and 2"],
    [{ presencePenalty: -3 }, "presencePenalty must be between -2 and 2"],
    [{ penaltyWindow: -2 }, "penaltyWindow must be a non-negative integer, or -1"],
    [{ seed: 1.5 }, "seed must be an integer"],
    [{ topLogprobs: 21 }, "topLogprobs must be an integer between 0 and 20"],
    [{ topLogprobs: -1 }, "topLogprobs must be an integer between 0 and 20"],
    [{ logitBias: { 7: 101 } }, "logitBias[7] must be between -100 and 100"],
    [{ logitBias: { "-3": 1 } }, 'logitBias key "-3" must be a non-negative integer token id'],
    [{ logitBias: { "1.5": 1 } }, 'logitBias key "1.5" must be a non-negative integer token id'],
  ] as Array<[SamplingParams, string]>)("rejects %j with a message naming the field", (p, message) => {
    expect(validateSamplingParams(p)).toContain(message);
  });

  it("rejects numbers that arrive as strings from JSON", () => {
    const p = { temperature: "1" } as unknown as SamplingParams;
    expect(validateSamplingParams(p)).toBe("temperature must be between 0 and 2");
    const bias = { logitBias: { 5: "10" } } as unknown as SamplingParams;
    expect(validateSamplingParams(bias)).toBe("logitBias[5] must be between -100 and 100");
    const array = { logitBias: [1, 2] } as unknown as SamplingParams;
    expect(validateSamplingParams(array)).toBe("logitBias must be an object mapping token ids to biases");
  });
});

describe("resolveSamplingParams", () => {
  it("fills the documented defaults", () => {
    expect(resolveSamplingParams({})).toEqual({
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      repetitionPenalty: 1,
      frequencyPenalty: 0,
      presencePenalty: 0,
      penaltyWindow: 64,
      seed: undefined,
      topLogprobs: 0,
      logitBias: [],
    });
  });

  it("parses logitBias keys into numeric ids and drops zero biases", () => {
    expect(resolveSamplingParams({ logitBias: { 3: -100, 9: 0, 12: 2.5 } }).logitBias).toEqual([
      [3, -100],
      [12, 2.5],
    ]);
  });
});
