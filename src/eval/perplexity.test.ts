import { describe, expect, it } from "vitest";
import { argmax, logSumExp, scoreRow } from "./logits.js";
import { evaluateTokens, planWindows, scoreTokens, summarizeScores } from "./perplexity.js";
import type { Scorer } from "./scorer.js";

/** Logits that depend only on the current token: row i = table[tokens[i]]. Records each call. */
function tableScorer(table: readonly number[][], contextLength = 1024): Scorer & { calls: number[][] } {
  const vocabSize = table[0]?.length ?? 0;
  const calls: number[][] = [];
  return {
    vocabSize,
    contextLength,
    calls,
    async logits(tokens) {
      calls.push([...tokens]);
      const out = new Float32Array(tokens.length * vocabSize);
      for (const [i, t] of tokens.entries()) out.set(table[t] as number[], i * vocabSize);
      return out;
    },
  };
}

function uniformScorer(vocabSize: number): Scorer {
  return { vocabSize, contextLength: 1024, logits: async (tokens) => new Float32Array(tokens.length * vocabSize) };
}

// softmax rows: after 0 → [1/5, 3/5, 1/5]; after 1 → [2/5, 1/5, 2/5]; after 2 → [1/4, 1/4, 1/2]
const TABLE = [
  [0, Math.log(3), 0],
  [Math.log(2), 0, Math.log(2)],
  [0, 0, Math.log(2)],
];
const STREAM = [0, 1, 2, 0, 1];

describe("row math", () => {
  it("log-softmax is exact in float64 and does not overflow", () => {
    expect(scoreRow([0, Math.log(3), 0], 1).logProb).toBeCloseTo(Math.log(3 / 5), 14);
    // exp(1000) overflows float64; masked (-Infinity) logits get probability 0
    expect(scoreRow(Float32Array.of(1000, 999, -Infinity), 0).logProb).toBeCloseTo(-Math.log(1 + Math.exp(-1)), 12);
    expect(scoreRow(Float32Array.of(1000, 999, -Infinity), 2).logProb).toBe(-Infinity);
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 12);
    expect(logSumExp([-1000, -1000])).toBeCloseTo(-1000 + Math.log(2), 12);
  });

  it("argmax picks the lowest index among ties", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([0, 0, 0])).toBe(0);
    expect(scoreRow([2, 0, 2], 2).argmax).toBe(0);
  });

  it("non-finite logits and bad targets are errors", () => {
    expect(() => logSumExp([0, Number.NaN])).toThrow(/logit 1 is NaN/);
    expect(() => logSumExp([0, Number.POSITIVE_INFINITY])).toThrow(/Infinity/);
    expect(() => logSumExp([-Infinity, -Infinity])).toThrow(/-Infinity/);
    expect(() => scoreRow([0, 0], 2)).toThrow(RangeError);
  });
});

describe("windows", () => {
  it("non-overlapping windows predict all but each window's first token; the last may be short", () => {
    expect(planWindows(10, { window: 4 })).toEqual([
      { start: 0, end: 4, firstTarget: 1 },
      { start: 4, end: 8, firstTarget: 5 },
      { start: 8, end: 10, firstTarget: 9 },
    ]);
    // a lone last token has no prefix in its window: nothing to predict, no window
    expect(planWindows(9, { window: 4 })).toHaveLength(2);
  });

  it("a stride below the window predicts every position once, each with window − stride of context", () => {
    const plan = planWindows(10, { window: 4, stride: 2 });
    expect(plan).toEqual([
      { start: 0, end: 4, firstTarget: 1 },
      { start: 2, end: 6, firstTarget: 4 },
      { start: 4, end: 8, firstTarget: 6 },
      { start: 6, end: 10, firstTarget: 8 },
    ]);
    const predicted = plan.flatMap((w) => Array.from({ length: w.end - w.firstTarget }, (_, i) => w.firstTarget + i));
    expect(predicted).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("bad windows, strides and streams are RangeErrors naming the parameter", async () => {
    expect(() => planWindows(10, { window: 1 })).toThrow(RangeError);
    expect(() => planWindows(10, { window: 1 })).toThrow(/^window must be/);
    expect(() => planWindows(10, { window: 2.5 })).toThrow(/^window must be/);
    expect(() => planWindows(10, { window: 4, stride: 5 })).toThrow(/^stride must be/);
    expect(() => planWindows(10, { window: 4, stride: 0 })).toThrow(/^stride must be/);
    expect(() => planWindows(0, { window: 4 })).toThrow(/^tokens must hold at least 2 tokens/);
    const scorer = uniformScorer(3);
    await expect(evaluateTokens(scorer, [], { window: 4 })).rejects.toThrow(RangeError);
    await expect(evaluateTokens(scorer, [], { window: 4 })).rejects.toThrow(/^tokens must hold/);
    await expect(evaluateTokens(scorer, [1], { window: 4 })).rejects.toThrow(/^tokens must hold/);
    await expect(evaluateTokens(scorer, [0, 1, 2, 3], { window: 4 })).rejects.toThrow(
      /^tokens\[3\] = 3 is outside the model's vocabulary \(0\.\.2\)/,
    );
    await expect(evaluateTokens(scorer, [0, -1], { window: 4 })).rejects.toThrow(/^tokens\[1\] = -1/);
    await expect(evaluateTokens(scorer, Int32Array.of(0, 1), { window: 1 })).rejects.toThrow(/^window must be/);
    const short = { ...scorer, contextLength: 8 };
    await expect(evaluateTokens(short, [0, 1], { window: 10 })).rejects.toThrow(/^window 10 needs 9 positions/);
    expect((await evaluateTokens(short, [0, 1], { window: 9 })).tokens).toBe(1);
  });
});

describe("perplexity and agreement", () => {
  it("a uniform model over V tokens has perplexity V", async () => {
    for (const vocab of [2, 7, 50_000]) {
      const tokens = Array.from({ length: 101 }, (_, i) => (i * 31) % vocab);
      const result = await evaluateTokens(uniformScorer(vocab), tokens, { window: 20 });
      expect(result.perplexity).toBeCloseTo(vocab, 8);
      expect(result.nll).toBeCloseTo(Math.log(vocab), 12);
      expect(result.tokens).toBe(5 * 19); // the lone last token (position 100) has no prefix in its window
    }
  });

  it("matches a hand computation on a three-token vocabulary", async () => {
    const scorer = tableScorer(TABLE);
    // one window: targets 1, 2, 0, 1 after 0, 1, 2, 0 → p = 3/5, 2/5, 1/4, 3/5
    const whole = await evaluateTokens(scorer, STREAM, { window: 5 });
    expect(scorer.calls).toEqual([[0, 1, 2, 0]]); // the last token is only predicted, never run
    const nll = -(Math.log(3 / 5) + Math.log(2 / 5) + Math.log(1 / 4) + Math.log(3 / 5)) / 4;
    expect(whole.nll).toBeCloseTo(nll, 7);
    expect(whole.perplexity).toBeCloseTo(Math.exp(nll), 7);
    // top-1 after 0, 1, 2, 0 is 1, 0, 2, 1 against actual 1, 2, 0, 1
    expect(whole.top1Accuracy).toBe(0.5);
    expect(whole).toMatchObject({ tokens: 4, windows: 1 });
    expect(whole.top1Agreement).toBeUndefined();

    // windows of 3: [0 1 2] predicts 1, 2; [0 1] predicts 1 (position 3 has no prefix)
    scorer.calls.length = 0;
    const cut = await evaluateTokens(scorer, Int32Array.from(STREAM), { window: 3 });
    expect(scorer.calls).toEqual([[0, 1], [0]]);
    expect(cut.nll).toBeCloseTo(-(2 * Math.log(3 / 5) + Math.log(2 / 5)) / 3, 7);
    expect(cut).toMatchObject({ tokens: 3, windows: 2, top1Accuracy: 2 / 3 });

    // stride 2: [0 1 2] predicts 1, 2; [2 0 1] predicts 0, 1
    scorer.calls.length = 0;
    const strided = await evaluateTokens(scorer, STREAM, { window: 3, stride: 2 });
    expect(scorer.calls).toEqual([
      [0, 1],
      [2, 0],
    ]);
    expect(strided.nll).toBeCloseTo(nll, 7);
  });

  it("agreement with a reference counts equal top-1 tokens; a model agrees with itself fully", async () => {
    const variant = tableScorer(TABLE);
    // the reference's top-1 after 0, 1, 2 is 1, 2, 0; the variant's is 1, 0, 2
    const reference = tableScorer([
      [0, 1, 0],
      [0, 0, 1],
      [1, 0, 0],
    ]);
    const result = await evaluateTokens(variant, STREAM, { window: 5, reference });
    expect(result.top1Agreement).toBe(0.5); // after 0, 1, 2, 0: agree, differ, differ, agree
    expect(result.reference?.top1Accuracy).toBe(1); // it predicts 1, 2, 0, 1 exactly
    expect(result.reference?.perplexity).toBeCloseTo(1 + 2 / Math.E, 6); // p(top) = e / (e + 2) everywhere

    const self = await evaluateTokens(variant, STREAM, { window: 3, reference: variant });
    expect(self.top1Agreement).toBe(1);
    expect(self.reference?.perplexity).toBe(self.perplexity);
  });

  it("scores on other windows cannot be compared", async () => {
    const scorer = tableScorer(TABLE);
    const a = await scoreTokens(scorer, STREAM, { window: 5 });
    const b = await scoreTokens(scorer, STREAM, { window: 3 });
    expect(() => summarizeScores(STREAM, a, b)).toThrow(/other windows/);
  });

  it("a scorer returning the wrong number of logits is an error", async () => {
    const broken: Scorer = { vocabSize: 3, contextLength: 8, logits: async () => new Float32Array(3) };
    await expect(evaluateTokens(broken, STREAM, { window: 5 })).rejects.toThrow(/returned 3 logits for 4 positions/);
  });
});
