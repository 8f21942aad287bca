/**
 * The native row pass (kernels' logitStats) against the JS it replaced (logprobs.ts: loadLogits, then
 * sumExpShifted with fastexp.ts's exp), bit for bit: the log-partition is reported (logprobs) and seeds
 * the draw at temperature 1, so an ulp of difference would change answers.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hardware, type Isa, logitStats } from "../../../kernels/index.js";
import { expNonPositive } from "./fastexp.js";
import { cleanLogit, loadLogits, sumExpShifted } from "./logprobs.js";
import { Rng } from "./rng.js";
import { Sampler } from "./sampler.js";

/** the bits of a double, so -0 / +0 and every ulp count */
function bits(v: number): bigint {
  return new BigUint64Array(Float64Array.of(v).buffer)[0]!;
}

function expectSameDoubles(got: Float64Array, want: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (bits(got[i]!) !== bits(want[i]!)) throw new Error(`index ${i}: ${got[i]} != ${want[i]} (bits differ)`);
  }
}

/** what the sampler computed before the native pass */
function jsReference(logits: Float32Array, n: number) {
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  const raw = loadLogits(logits, n, x);
  const sum = raw.max === Number.NEGATIVE_INFINITY ? 0 : sumExpShifted(x, n, raw.max, w);
  return { ...raw, sum, x, w };
}

/** every path this CPU runs: plain C, AVX2, AVX-512 */
const isas: readonly Isa[] = hardware().available;

function nativePass(logits: Float32Array, n: number, isa: Isa) {
  const stats = new Float64Array(3);
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  logitStats(logits, n, stats, x, w, true, isa);
  return { max: stats[0]!, argmax: stats[1]!, sum: stats[2]!, x, w };
}

const special = fc.constantFrom(
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  3.4028234663852886e38,
  -3.4028234663852886e38,
  1e-45,
);
/** logits as a model hands them over, plus spreads that reach every exp table entry and the underflow edge */
const logit = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -30, max: 30, noNaN: true }) },
  { weight: 3, arbitrary: fc.float({ min: -800, max: 0, noNaN: true }) },
  { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }).map((k) => k / 4) },
  { weight: 1, arbitrary: special },
);

describe.each(isas)("the native row pass (%s)", (isa) => {
  it("gives the JS pass's clean logits, max, argmax, exp weights and sum, bit for bit", () => {
    fc.assert(
      // past 64 values the vector paths run whole blocks; shorter rows and the tails run their scalar code
      fc.property(fc.array(logit, { minLength: 1, maxLength: 300 }), fc.nat(), (values, cut) => {
        const logits = Float32Array.from(values);
        const n = 1 + (cut % logits.length);
        const want = jsReference(logits, n);
        const got = nativePass(logits, n, isa);
        expect(got.argmax).toBe(want.argmax);
        expect(bits(got.max)).toBe(bits(want.max));
        expect(bits(got.sum)).toBe(bits(want.sum));
        expectSameDoubles(got.x, want.x, n);
        if (want.max > Number.NEGATIVE_INFINITY) expectSameDoubles(got.w, want.w, n);
      }),
      { numRuns: 3000 },
    );
  });

  it("gives the same bits on rows a model hands over (finite, within 700 of the max: the vector paths' plain case)", () => {
    const spread = fc.constantFrom(1, 30, 200, 690);
    fc.assert(
      fc.property(spread, fc.integer({ min: 64, max: 700 }), fc.integer(), (width, n, seed) => {
        const rng = new Rng(seed);
        const logits = Float32Array.from({ length: n }, () => (rng.nextFloat() - 0.5) * width);
        const want = jsReference(logits, n);
        const got = nativePass(logits, n, isa);
        expect([got.argmax, bits(got.max), bits(got.sum)]).toEqual([want.argmax, bits(want.max), bits(want.sum)]);
        expectSameDoubles(got.w, want.w, n);
      }),
      { numRuns: 400 },
    );
  });

  it("computes fastexp's exp for every table entry and across the subnormal edge", () => {
    // x - max sweeps [-746, 0] in steps finer than the table's ln2/64, so every entry and the last
    // (2^-1075) power are reached; logit 0 first makes max = 0 and x - max = x exactly
    const values = [0];
    for (let v = -746; v < 0; v += 0.0037) values.push(v);
    const logits = Float32Array.from(values);
    const got = nativePass(logits, logits.length, isa);
    for (let i = 0; i < logits.length; i++) {
      const want = expNonPositive(logits[i]!);
      if (bits(got.w[i]!) !== bits(want)) throw new Error(`exp(${logits[i]}): ${got.w[i]} != ${want}`);
    }
    expect(got.w[logits.length - 1]).toBeGreaterThan(0.99);
  });

  it("takes the first of equal maxima as the max, so -0 before +0 stays -0", () => {
    const logits = new Float32Array(200).fill(-3);
    logits[77] = -0;
    logits[130] = 0;
    const got = nativePass(logits, 200, isa);
    expect(got.argmax).toBe(77);
    expect(Object.is(got.max, -0)).toBe(true);
    expect(bits(got.sum)).toBe(bits(jsReference(logits, 200).sum));
  });

  it("gives the same statistics without x and w, and the same max and argmax without the sum", () => {
    const logits = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 9);
    const full = nativePass(logits, 4096, isa);
    const stats = new Float64Array(3);
    logitStats(logits, 4096, stats, null, null, true, isa);
    expect([stats[0], stats[1], bits(stats[2]!)]).toEqual([full.max, full.argmax, bits(full.sum)]);
    const w = new Float64Array(4096).fill(7);
    logitStats(logits, 4096, stats, null, w, false, isa);
    expect([stats[0], stats[1], stats[2]]).toEqual([full.max, full.argmax, Number.NaN]);
    expect(w.every((v) => v === 7)).toBe(true);
  });

  it("reports argmax -1 and sum 0 when every logit is -Infinity or NaN, and checks its arguments", () => {
    const stats = new Float64Array(3);
    const dead = new Float32Array(100).fill(Number.NaN);
    dead[70] = Number.NEGATIVE_INFINITY;
    logitStats(dead, 100, stats, null, null, true, isa);
    expect(Array.from(stats)).toEqual([Number.NEGATIVE_INFINITY, -1, 0]);
    expect(() => logitStats(new Float32Array(4), 5, stats, null, null)).toThrow(/n/);
    expect(() => logitStats(new Float32Array(4), 4, new Float64Array(2), null, null)).toThrow(/stats/);
    expect(() => logitStats(new Float32Array(4), 4, stats, new Float64Array(3), null)).toThrow(/x/);
  });
});

/** A vocabulary-sized row with a clear winner, a tie for second and a long tail. */
function row(vocab: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const logits = Float32Array.from({ length: vocab }, () => (rng.nextFloat() - 0.5) * 12);
  logits[seed % vocab] = 9;
  return logits;
}

describe("the sampler over the native pass", () => {
  const vocab = 4096;

  it("greedy without alternatives (no x written) picks and reports what greedy with them does", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const logits = row(vocab, seed);
      const plain = new Sampler({ temperature: 0 }, vocab).sample(logits, []);
      const withTop = new Sampler({ temperature: 0, topLogprobs: 5 }, vocab).sample(logits, []);
      expect(plain.id).toBe(withTop.id);
      expect(bits(plain.logprob)).toBe(bits(withTop.logprob));
      expect(withTop.top[0]).toEqual({ id: plain.id, logprob: plain.logprob });
    }
  });

  it("reports the logprob and alternatives the JS pass gives, bit for bit", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const logits = row(vocab, seed);
      logits[7] = Number.NaN;
      const ref = jsReference(logits, vocab);
      const logSum = Math.log(ref.sum);
      const out = new Sampler({ temperature: 0, topLogprobs: 3 }, vocab).sample(logits, []);
      expect(out.id).toBe(ref.argmax);
      expect(bits(out.logprob)).toBe(bits(cleanLogit(logits[ref.argmax]!) - ref.max - logSum));
      for (const t of out.top) expect(bits(t.logprob)).toBe(bits(ref.x[t.id]! - ref.max - logSum));
    }
  });

  it("draws what the JS weights and the seeded RNG give at temperature 1 (the weights the pass kept)", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const logits = row(vocab, seed);
      // a flatter row, so the draw lands deep in the tail and every weight before it counts
      for (let i = 0; i < vocab; i++) logits[i] = logits[i]! / 4;
      const sampler = new Sampler({ seed }, vocab);
      const rng = new Rng(seed);
      for (let draw = 0; draw < 5; draw++) {
        const ref = jsReference(logits, vocab);
        const target = rng.nextFloat() * ref.sum;
        let acc = 0;
        let want = -1;
        for (let i = 0; i < vocab; i++) {
          if (ref.w[i]! <= 0) continue;
          want = i;
          acc += ref.w[i]!;
          if (acc > target) break;
        }
        expect(sampler.sample(logits, []).id).toBe(want);
      }
    }
  });

  it("without the chosen logprob, greedy picks the same token and reports NaN; every other step is unchanged", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const logits = row(vocab, seed);
      const full = new Sampler({ temperature: 0 }, vocab).sample(logits, []);
      const bare = new Sampler({ temperature: 0 }, vocab, { chosenLogprob: false }).sample(logits, []);
      expect(bare.id).toBe(full.id);
      expect(bare.logprob).toBeNaN();
      // alternatives need the log-partition anyway, so the logprob comes with them as before
      const top = new Sampler({ temperature: 0, topLogprobs: 2 }, vocab, { chosenLogprob: false }).sample(logits, []);
      expect(bits(top.logprob)).toBe(bits(full.logprob));
      // a draw needs it too: the same seeded token and logprob with or without the option
      const drawn = new Sampler({ seed }, vocab).sample(logits, []);
      const drawnBare = new Sampler({ seed }, vocab, { chosenLogprob: false }).sample(logits, []);
      expect([drawnBare.id, bits(drawnBare.logprob)]).toEqual([drawn.id, bits(drawn.logprob)]);
      // penalties read the float64 copy: greedy over penalised logits is unchanged too
      const history = [full.id];
      const penalised = new Sampler({ temperature: 0, presencePenalty: 2 }, vocab).sample(logits, history);
      const penalisedBare = new Sampler({ temperature: 0, presencePenalty: 2 }, vocab, {
        chosenLogprob: false,
      }).sample(logits, history);
      expect(penalisedBare.id).toBe(penalised.id);
      expect(bits(penalisedBare.logprob)).toBe(bits(penalised.logprob));
    }
  });
});
