import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SamplingParams } from "./params.js";
import { Sampler } from "./sampler.js";

const f32 = (xs: readonly number[]) => Float32Array.from(xs);

/** float64 softmax of logits / t, the reference the empirical frequencies are checked against */
function softmax(logits: readonly number[], t = 1): number[] {
  const max = maxOf(logits);
  const e = logits.map((l) => Math.exp((l - max) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

// a loop, not Math.max(...xs): spreading 128k arguments overflows the stack
function maxOf(xs: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const x of xs) if (x > m) m = x;
  return m;
}

function logSumExp(xs: readonly number[]): number {
  const max = maxOf(xs);
  return max + Math.log(xs.reduce((s, x) => s + Math.exp(x - max), 0));
}

function draws(params: SamplingParams, logits: Float32Array, n: number, history: number[] = []): number[] {
  const s = new Sampler(params, logits.length);
  return Array.from({ length: n }, () => s.sample(logits, history).id);
}

function counts(ids: readonly number[], size: number): number[] {
  const c = new Array<number>(size).fill(0);
  for (const id of ids) c[id]! += 1;
  return c;
}

/** Pearson chi-square of observed counts against expected probabilities (cells with p = 0 must be empty) */
function chiSquare(observed: readonly number[], probs: readonly number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  let chi = 0;
  for (let i = 0; i < probs.length; i++) {
    const e = probs[i]! * n;
    if (e === 0) {
      if (observed[i]! > 0) return Number.POSITIVE_INFINITY;
      continue;
    }
    chi += (observed[i]! - e) ** 2 / e;
  }
  return chi;
}

describe("greedy", () => {
  it("temperature 0 picks the argmax, the lowest id on ties, and ignores the seed", () => {
    expect(draws({ temperature: 0 }, f32([0.1, 2.5, -1, 2.4]), 5)).toEqual([1, 1, 1, 1, 1]);
    expect(draws({ temperature: 0, seed: 9 }, f32([1, 3, 0, 3]), 3)).toEqual([1, 1, 1]);
  });

  it("matches the temperature -> 0 limit of sampling", () => {
    // logits on a 0.05 grid without repeats: at T = 1e-4 the runner-up is 500 nats behind
    const distinct = fc.uniqueArray(fc.integer({ min: -400, max: 400 }), { minLength: 2, maxLength: 64 });
    fc.assert(
      fc.property(distinct, fc.integer(), (grid, seed) => {
        const logits = f32(grid.map((g) => g * 0.05));
        const greedy = new Sampler({ temperature: 0 }, logits.length).sample(logits, []).id;
        const cold = new Sampler({ temperature: 1e-4, seed }, logits.length).sample(logits, []).id;
        expect(cold).toBe(greedy);
      }),
      { numRuns: 200 },
    );
  });
});

describe("seeded draws", () => {
  const logits = f32([0, 0.2, -0.3, 0.1, 0.05, -0.1, 0.3, 0]);

  it("repeat for the same seed and differ between seeds", () => {
    const a = draws({ seed: 1234 }, logits, 200);
    expect(draws({ seed: 1234 }, logits, 200)).toEqual(a);
    expect(draws({ seed: 1235 }, logits, 200)).not.toEqual(a);
  });

  it("use a random seed when none is given, and report it so the run can be repeated", () => {
    const first = new Sampler({}, logits.length);
    const second = new Sampler({}, logits.length);
    expect(first.seed).not.toBe(second.seed);
    const a = Array.from({ length: 100 }, () => first.sample(logits, []).id);
    expect(draws({ seed: first.seed }, logits, 100)).toEqual(a);
  });
});

describe("empirical frequencies", () => {
  // chi-square critical value at p = 0.001 for 7 degrees of freedom (8 cells)
  const CHI2_7_DOF = 24.32;
  const logits = [2, 1, 0.5, 0, -0.5, -1, 1.5, 0.25];
  const N = 40_000;

  it.each([1, 0.5, 1.7])("match softmax(logits / %d)", (t) => {
    const observed = counts(draws({ temperature: t, seed: 11 }, f32(logits), N), 8);
    expect(chiSquare(observed, softmax(logits, t))).toBeLessThan(CHI2_7_DOF);
  });

  it("detect a wrong distribution (the check has teeth)", () => {
    const observed = counts(draws({ temperature: 1, seed: 11 }, f32(logits), N), 8);
    expect(chiSquare(observed, softmax(logits, 1.1))).toBeGreaterThan(CHI2_7_DOF);
  });

  it("match the renormalised top-k, top-p and min-p distributions", () => {
    const p = softmax(logits);
    const byProb = [0, 6, 1, 2, 7, 3, 4, 5]; // ids sorted by logit
    // top-k 3 keeps ids 0, 6, 1
    const topK = p.map((v, i) => (byProb.slice(0, 3).includes(i) ? v : 0));
    // top-p 0.8: sorted probabilities 0.379, 0.230, 0.139, 0.085 accumulate to 0.748 then 0.833 -> four tokens
    const topP = p.map((v, i) => (byProb.slice(0, 4).includes(i) ? v : 0));
    // min-p 0.3: keep p >= 0.3 * p_max, i.e. logit >= 2 + ln 0.3 = 0.796
    const minP = p.map((v, i) => (logits[i]! >= 2 + Math.log(0.3) ? v : 0));
    const cases: Array<[SamplingParams, number[]]> = [
      [{ topK: 3 }, topK],
      [{ topP: 0.8 }, topP],
      [{ minP: 0.3 }, minP],
    ];
    for (const [params, expected] of cases) {
      const z = expected.reduce((a, b) => a + b, 0);
      const observed = counts(draws({ ...params, seed: 5 }, f32(logits), N), 8);
      const dof = expected.filter((v) => v > 0).length - 1;
      // critical values at p = 0.001 for 2 and 3 degrees of freedom
      const critical = dof === 2 ? 13.82 : 16.27;
      expect(
        chiSquare(
          observed,
          expected.map((v) => v / z),
        ),
        JSON.stringify(params),
      ).toBeLessThan(critical);
    }
  });
});

/** The tokens top-k, then top-p, then min-p may keep, with a little slack for rounding at the top-p edge. */
function allowedSet(logits: readonly number[], t: number, topK: number, topP: number, minP: number): Set<number> {
  const order = logits.map((_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const p = softmax(logits, t);
  let kept = topK > 0 ? order.slice(0, topK) : order;
  if (topP < 1) {
    const z = kept.reduce((s, i) => s + p[i]!, 0);
    let acc = 0;
    let m = kept.length;
    for (let j = 0; j < kept.length; j++) {
      acc += p[kept[j]!]! / z;
      if (acc >= topP - 1e-9) {
        m = j + 1;
        break;
      }
    }
    // one more token in case rounding on the sampler's side put the boundary a step later
    kept = kept.slice(0, m + 1 < kept.length && Math.abs(acc - topP) < 1e-9 ? m + 1 : m);
  }
  const pMax = p[order[0]!]!;
  return new Set(kept.filter((i) => p[i]! >= minP * pMax * (1 - 1e-9)));
}

describe("truncation", () => {
  it("never returns a token outside the top-k / top-p / min-p set", () => {
    const logits = fc.array(fc.oneof(fc.double({ min: -15, max: 15, noNaN: true }), fc.integer({ min: -2, max: 2 })), {
      minLength: 1,
      maxLength: 120,
    });
    const params = fc.record({
      temperature: fc.double({ min: 0.05, max: 2, noNaN: true }),
      topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 130 })),
      topP: fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 1, noNaN: true })),
      minP: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(logits, params, (xs, p) => {
        const allowed = allowedSet(xs, p.temperature, p.topK, p.topP, p.minP);
        const s = new Sampler(p, xs.length);
        const input = f32(xs);
        const values = Array.from(input); // the float32-rounded logits are what the sampler sees
        const strict = allowedSet(values, p.temperature, p.topK, p.topP, p.minP);
        for (let i = 0; i < 25; i++) {
          const id = s.sample(input, []).id;
          expect(strict.has(id) || allowed.has(id), `id ${id} not allowed`).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("top-k 1 and a tiny top-p both reduce to greedy", () => {
    const logits = f32([0.3, 1.2, 1.1, -4, 1.19]);
    expect(new Set(draws({ topK: 1, seed: 1 }, logits, 200))).toEqual(new Set([1]));
    expect(new Set(draws({ topP: 1e-6, seed: 1 }, logits, 200))).toEqual(new Set([1]));
    expect(new Set(draws({ minP: 1, seed: 1 }, logits, 200))).toEqual(new Set([1]));
  });

  it("min-p applies after temperature: a hotter temperature lets more tokens through", () => {
    const logits = f32([3, 2, 1, 0]);
    // p_i / p_max = exp(-d / T); with minP 0.2 the cutoff is d <= T * ln 5 = 1.61 T
    expect(new Set(draws({ minP: 0.2, temperature: 0.5, seed: 2 }, logits, 2000))).toEqual(new Set([0]));
    expect(new Set(draws({ minP: 0.2, temperature: 1, seed: 2 }, logits, 2000))).toEqual(new Set([0, 1]));
    expect(new Set(draws({ minP: 0.2, temperature: 2, seed: 2 }, logits, 2000))).toEqual(new Set([0, 1, 2, 3]));
  });
});

describe("penalties", () => {
  const greedy = (logits: number[], history: number[], p: SamplingParams) =>
    new Sampler({ temperature: 0, ...p }, logits.length).sample(f32(logits), history).id;

  it("repetition divides positive logits and multiplies negative ones (llama.cpp / HF)", () => {
    // 2 / 1.2 = 1.67 drops below 1.9
    expect(greedy([2, 1.9, -5], [0], { repetitionPenalty: 1.2 })).toBe(1);
    expect(greedy([2, 1.9, -5], [], { repetitionPenalty: 1.2 })).toBe(0);
    // -1 * 1.2 = -1.2 drops below -1.1; dividing would have raised it instead
    expect(greedy([-1, -1.1], [0], { repetitionPenalty: 1.2 })).toBe(1);
    // a penalty below 1 favours repeats
    expect(greedy([1.9, 2], [0], { repetitionPenalty: 0.9 })).toBe(0);
  });

  it("frequency scales with the count, presence does not (OpenAI)", () => {
    // 1 - 0.2 * 3 = 0.4 < 0.5, but 1 - 0.2 * 2 = 0.6 > 0.5
    expect(greedy([1, 0.5], [0, 0, 0], { frequencyPenalty: 0.2 })).toBe(1);
    expect(greedy([1, 0.5], [0, 0], { frequencyPenalty: 0.2 })).toBe(0);
    // presence 0.6 pushes 1 to 0.4 once, however many times the token appeared
    expect(greedy([1, 0.5], [0], { presencePenalty: 0.6 })).toBe(1);
    expect(greedy([1, 0.5], [0, 0, 0, 0, 0, 0], { presencePenalty: 0.4 })).toBe(0);
    // negative penalties encourage repetition
    expect(greedy([0.5, 1], [0, 0], { frequencyPenalty: -0.5 })).toBe(0);
  });

  it("look only at the last penaltyWindow tokens; -1 means the whole history, 0 none", () => {
    const history = [0, 2, 2, 2];
    expect(greedy([1, 0.9, 0], history, { presencePenalty: 1, penaltyWindow: 3 })).toBe(0);
    expect(greedy([1, 0.9, 0], history, { presencePenalty: 1, penaltyWindow: 4 })).toBe(1);
    expect(greedy([1, 0.9, 0], history, { presencePenalty: 1, penaltyWindow: -1 })).toBe(1);
    expect(greedy([1, 0.9, 0], history, { presencePenalty: 1, penaltyWindow: 0 })).toBe(0);
    // the default window is 64
    const old = [0, ...new Array<number>(64).fill(2)];
    expect(greedy([1, 0.9, 0], old, { presencePenalty: 1 })).toBe(0);
    expect(greedy([1, 0.9, 0], old.slice(1).concat(0), { presencePenalty: 1 })).toBe(1);
  });

  it("apply after logit_bias", () => {
    // bias then penalty: (1 - 2) * 2 = -2 < -1.8; penalty then bias would give 1 / 2 - 2 = -1.5 > -1.8
    expect(greedy([1, -1.8], [0], { logitBias: { 0: -2 }, repetitionPenalty: 2 })).toBe(1);
  });

  it("ignore history ids outside the vocabulary", () => {
    expect(greedy([1, 0.9], [5, -1, 1.5], { presencePenalty: 2 })).toBe(0);
  });

  it("shift the sampled distribution the way the adjusted logits say", () => {
    const logits = [1, 1, 1, 1];
    const history = [0, 0, 1];
    const observed = counts(draws({ seed: 3, frequencyPenalty: 0.5 }, f32(logits), 20_000, history), 4);
    // critical value at p = 0.001 for 3 degrees of freedom
    expect(chiSquare(observed, softmax([0, 0.5, 1, 1]))).toBeLessThan(16.27);
  });
});

describe("logit_bias", () => {
  it("-100 bans a token and +100 forces one", () => {
    const logits = f32([5, 4, 3]);
    expect(draws({ logitBias: { 0: -100, 1: -100 }, seed: 1 }, logits, 500).every((id) => id === 2)).toBe(true);
    expect(draws({ logitBias: { 2: 100 }, seed: 1, temperature: 2 }, logits, 500).every((id) => id === 2)).toBe(true);
  });

  it("rejects ids outside the vocabulary when the sampler is built", () => {
    expect(() => new Sampler({ logitBias: { 3: 1 } }, 3)).toThrow(/logitBias token id 3 is outside the vocabulary/);
  });
});

describe("logprobs", () => {
  const logits = f32([1.5, -0.25, 3, 0.75, 3, -8, 2.2, 0]);
  // the float32-rounded values (2.2 is not exact) are what the model hands over
  const raw = Array.from(logits);
  const lse = logSumExp(raw);

  it("are the raw log-softmax: they sum to one, come in descending order, ties to the lower id", () => {
    const s = new Sampler({ topLogprobs: 20, seed: 1 }, raw.length);
    const out = s.sample(logits, []);
    expect(out.top.map((t) => t.id)).toEqual([2, 4, 6, 0, 3, 7, 1, 5]);
    expect(logSumExp(out.top.map((t) => t.logprob))).toBeCloseTo(0, 12);
    for (const t of out.top) expect(t.logprob).toBeCloseTo(raw[t.id]! - lse, 12);
    expect(out.logprob).toBeCloseTo(raw[out.id]! - lse, 12);
  });

  it("ignore temperature, penalties, bias and truncation", () => {
    const params: SamplingParams = {
      temperature: 0.3,
      topK: 2,
      topP: 0.5,
      minP: 0.2,
      repetitionPenalty: 1.5,
      frequencyPenalty: 1,
      presencePenalty: 1,
      logitBias: { 2: -100, 4: -100 },
      topLogprobs: 3,
      seed: 4,
    };
    const out = new Sampler(params, raw.length).sample(logits, [6]);
    expect(out.top.map((t) => t.id)).toEqual([2, 4, 6]);
    for (const t of out.top) expect(t.logprob).toBeCloseTo(raw[t.id]! - lse, 12);
    // bias banned 2 and 4; 6 is penalised below 0 (2.2 / 1.5 - 2 = -0.53), so 0 is left on top
    expect(out.id).toBe(0);
    expect(out.logprob).toBeCloseTo(raw[0]! - lse, 12);
  });

  it("report the chosen token even when it is not among the top alternatives", () => {
    const out = new Sampler({ topLogprobs: 1, logitBias: { 5: 100 }, seed: 1 }, raw.length).sample(logits, []);
    expect(out.id).toBe(5);
    expect(out.top).toEqual([{ id: 2, logprob: expect.closeTo(3 - lse, 12) }]);
    expect(out.logprob).toBeCloseTo(-8 - lse, 12);
  });

  it("are empty when topLogprobs is 0 and capped at the vocabulary size", () => {
    expect(new Sampler({ seed: 1 }, raw.length).sample(logits, []).top).toEqual([]);
    expect(new Sampler({ topLogprobs: 20, seed: 1 }, 3).sample(f32([0, 1, 2]), []).top).toHaveLength(3);
  });
});

describe("invalid logits", () => {
  it("treats NaN as -Infinity", () => {
    const logits = f32([Number.NaN, 0, Number.NaN, -1]);
    const ids = draws({ seed: 1, temperature: 2 }, logits, 2000);
    expect(ids.filter((id) => id === 0 || id === 2)).toEqual([]);
    const out = new Sampler({ topLogprobs: 4, seed: 1 }, 4).sample(logits, []);
    expect(out.top.map((t) => t.id)).toEqual([1, 3, 0, 2]);
    expect(out.top[2]!.logprob).toBe(Number.NEGATIVE_INFINITY);
  });

  it("lets +Infinity logits win outright, split evenly between them", () => {
    const logits = f32([0, Number.POSITIVE_INFINITY, 5, Number.POSITIVE_INFINITY]);
    const ids = draws({ seed: 1, temperature: 0.7, topP: 0.9 }, logits, 2000);
    expect(new Set(ids)).toEqual(new Set([1, 3]));
    const out = new Sampler({ seed: 1, repetitionPenalty: 0.5 }, 4).sample(logits, [1]);
    expect([1, 3]).toContain(out.id);
    expect(out.logprob).toBeCloseTo(-Math.LN2, 12);
  });

  it("throws a clear error when every logit is -Infinity or NaN", () => {
    const s = new Sampler({ seed: 1 }, 3);
    expect(() => s.sample(f32([Number.NEGATIVE_INFINITY, Number.NaN, Number.NEGATIVE_INFINITY]), [])).toThrow(
      /every logit is -Infinity or NaN/,
    );
    expect(() => new Sampler({ temperature: 0 }, 2).sample(f32([Number.NaN, Number.NaN]), [])).toThrow(
      /no token can be sampled/,
    );
  });

  it("rejects too few logits, ignores padding beyond the vocabulary and leaves the input untouched", () => {
    const s = new Sampler({ seed: 1, repetitionPenalty: 2, logitBias: { 0: 5 } }, 4);
    expect(() => s.sample(f32([1, 2, 3]), [])).toThrow(/3 logits for a vocabulary of 4/);
    const padded = f32([0, 1, 0.5, 0.2, 50, 50]);
    const before = Array.from(padded);
    const ids = Array.from({ length: 500 }, () => s.sample(padded, [1, 2]).id);
    expect(Math.max(...ids)).toBeLessThan(4);
    expect(Array.from(padded)).toEqual(before);
  });
});

describe("construction", () => {
  it("throws the validation message for bad params and rejects a bad vocabulary size", () => {
    expect(() => new Sampler({ temperature: 3 }, 10)).toThrow("temperature must be between 0 and 2");
    expect(() => new Sampler({}, 0)).toThrow(/vocabSize must be a positive integer/);
    expect(() => new Sampler({}, 2.5)).toThrow(/vocabSize must be a positive integer/);
  });
});

describe("a 128256-token vocabulary", () => {
  const V = 128256;
  // a deterministic, LLM-like shape: a broad bulk plus a handful of strong candidates
  const logits = new Float32Array(V);
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < V; i++) logits[i] = 4 * (next() + next() + next() - 1.5);
  const peaks = [17, 5000, 64000, 128255];
  const peakLogits = [16, 15.5, 15, 14];
  peaks.forEach((id, j) => {
    logits[id] = peakLogits[j]!;
  });
  const raw = Array.from(logits);
  const lse = logSumExp(raw);

  it("reports float64-accurate logprobs and picks the argmax greedily", () => {
    const out = new Sampler({ temperature: 0, topLogprobs: 5 }, V).sample(logits, []);
    expect(out.id).toBe(17);
    expect(out.logprob).toBeCloseTo(16 - lse, 10);
    expect(out.top.slice(0, 4).map((t) => t.id)).toEqual(peaks);
    expect(out.top[4]!.logprob).toBeLessThan(out.top[3]!.logprob);
  });

  it("samples the peaks with their softmax frequencies under every truncation path", () => {
    const p = softmax(raw, 0.8);
    const peakMass = peaks.reduce((s, id) => s + p[id]!, 0);
    const expected = peaks.map((id) => p[id]! / peakMass);
    // relative to the top peak the others weigh 0.54, 0.29 and 0.08 at T = 0.8, the bulk under 1e-3 each:
    // top-k 4 and min-p 0.05 both keep exactly the peaks
    const N = 600;
    for (const params of [{ topK: 4 }, { minP: 0.05 }, { topK: 40, topP: 0.999, minP: 0.05 }]) {
      const s = new Sampler({ temperature: 0.8, seed: 99, ...params }, V);
      const ids = Array.from({ length: N }, () => s.sample(logits, []).id);
      const observed = peaks.map((id) => ids.filter((x) => x === id).length);
      expect(
        observed.reduce((a, b) => a + b, 0),
        JSON.stringify(params),
      ).toBe(N);
      // critical value at p = 0.001 for 3 degrees of freedom
      expect(chiSquare(observed, expected), JSON.stringify(params)).toBeLessThan(16.27);
    }
  });

  it("only returns top-p tokens without top-k, and includes the bulk when top-p asks for it", () => {
    const s = new Sampler({ temperature: 1.5, topP: 0.95, seed: 7 }, V);
    const p = softmax(raw, 1.5);
    const bulk = 1 - peaks.reduce((acc, id) => acc + p[id]!, 0);
    expect(bulk).toBeGreaterThan(0.1);
    const ids = Array.from({ length: 100 }, () => s.sample(logits, [1, 2, 3]).id);
    const allowed = allowedSet(raw, 1.5, 0, 0.95, 0);
    expect(ids.every((id) => allowed.has(id))).toBe(true);
    expect(ids.some((id) => !peaks.includes(id))).toBe(true);
  });
});
