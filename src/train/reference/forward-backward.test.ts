import { describe, expect, it } from "vitest";
import { BitNetForward, loadBitNetWeights, readBitNetConfig } from "../../engines/bitnet/index.js";
import { encodeGGUF, type GGUFTensorInput, type GGUFValue, parseGGUF } from "../../formats/gguf/index.js";
import {
  BITNET_QUANTIZER,
  crossEntropyForward,
  FLOAT_QUANTIZER,
  forwardLogits,
  lossAndGrads,
  lossAndGradsWith,
  lossOf,
  matmulForward,
  type Quantizer,
  quantizeActivations,
  ternarize,
} from "./forward-backward.js";
import {
  cloneParams,
  headDim,
  initParams,
  LINEAR_NAMES,
  type NanoConfig,
  type NanoParams,
  namedTensors,
  normalSource,
} from "./model.js";

const TINY: NanoConfig = {
  layers: 2,
  embedding: 16,
  feedForward: 32,
  heads: 4,
  kvHeads: 2,
  vocab: 23,
  context: 8,
  ropeBase: 10000,
  eps: 1e-5,
};
const TOKENS = [3, 17, 0, 22, 9, 5]; // T = 5 positions

/** Larger weights than training's init, and norms off 1, so every nonlinearity is exercised. */
function checkParams(c: NanoConfig, seed: number): NanoParams {
  const p = initParams(c, seed, 0.4);
  const normal = normalSource(seed + 7);
  for (const t of namedTensors(p)) {
    if (t.kind === "norm") for (let i = 0; i < t.tensor.length; i++) t.tensor[i] = 1 + 0.3 * normal();
  }
  return p;
}

/** Indices to check: all of a small tensor, else `count` spread ones including both ends. */
function sample(length: number, count: number, seed: number): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  const normal = normalSource(seed);
  const out = new Set([0, length - 1]);
  while (out.size < count) out.add(Math.floor(Math.abs(normal() * 1e6)) % length);
  return [...out];
}

interface Mismatch {
  name: string;
  index: number;
  analytic: number;
  numeric: number;
  rel: number;
}

/**
 * Worst relative error between analytic gradients and finite differences (float64) of `loss`
 * over sampled entries of every tensor: the 5-point central difference at h = 1e-4 (truncation
 * O(h⁴)). Relative error is taken against max(|analytic|, |numeric|, 1e-4), so gradients under
 * 1e-4 are held to 1e-10 absolute (rounding of the loss, ~1e-15, amplified by 1.5/h).
 *
 * `kinks`: the loss may be only C¹ at θ itself. Under QAT a ReLU² gate can be exactly 0 (an
 * integer ternary·int8 sum that cancels), the quantizer offsets are frozen, so the gate stays
 * 0 at θ and central differences pick up an O(h) error from the jump in the second
 * derivative. One-sided 3-point differences (O(h²), h = 1e-5) from the left and from the right
 * are exact to O(h²) there, because the first derivative is continuous; the entry passes when
 * any of the three estimates agrees. A wrong gradient disagrees with all three.
 */
function gradientCheck(
  p: NanoParams,
  grads: NanoParams,
  loss: (p: NanoParams) => number,
  perTensor = 40,
  kinks = false,
) {
  const gs = namedTensors(grads);
  let worst: Mismatch | undefined;
  let checked = 0;
  namedTensors(p).forEach((t, k) => {
    const g = gs[k]!.tensor;
    for (const i of sample(t.tensor.length, perTensor, k + 1)) {
      const saved = t.tensor[i]!;
      const at = (delta: number) => {
        t.tensor[i] = saved + delta;
        return loss(p);
      };
      let h = 1e-4;
      const estimates = [(at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)];
      if (kinks) {
        h = 1e-5;
        const f0 = at(0);
        estimates.push((-3 * f0 + 4 * at(h) - at(2 * h)) / (2 * h), (3 * f0 - 4 * at(-h) + at(-2 * h)) / (2 * h));
      }
      t.tensor[i] = saved;
      const analytic = g[i]!;
      const errors = estimates.map(
        (numeric) => Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-4),
      );
      const best = errors.indexOf(Math.min(...errors));
      const rel = errors[best]!;
      checked++;
      if (worst === undefined || rel > worst.rel)
        worst = { name: t.name, index: i, analytic, numeric: estimates[best]!, rel };
    }
  });
  return { worst: worst!, checked };
}

function maxAbs(a: Float64Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

describe("fp32 gradients match central differences", () => {
  for (const layers of [1, 2]) {
    it(`every parameter tensor, ${layers} layer(s): relative error < 1e-6`, () => {
      const c = { ...TINY, layers };
      const p = checkParams(c, 11 + layers);
      const { loss, grads } = lossAndGrads(p, c, TOKENS, "fp32");
      expect(loss).toBeCloseTo(lossOf(p, c, TOKENS, "fp32"), 12);
      // no tensor's gradient is trivially zero: every path is exercised
      for (const t of namedTensors(grads)) expect(maxAbs(t.tensor), t.name).toBeGreaterThan(1e-6);
      const { worst, checked } = gradientCheck(p, grads, (q) => lossOf(q, c, TOKENS, "fp32"));
      expect(checked).toBeGreaterThan(300);
      expect(worst.rel, JSON.stringify(worst)).toBeLessThan(1e-6);
    });
  }

  it("the check itself catches a gradient that is off by 1e-4 relative", () => {
    const c = { ...TINY, layers: 1 };
    const p = checkParams(c, 5);
    const { grads } = lossAndGrads(p, c, TOKENS, "fp32");
    const wrong = cloneParams(grads);
    const wv = wrong.layers[0]!.wv;
    for (let i = 0; i < wv.length; i++) wv[i] = wv[i]! * (1 + 1e-4);
    const { worst } = gradientCheck(p, wrong, (q) => lossOf(q, c, TOKENS, "fp32"), 8);
    expect(worst.rel).toBeGreaterThan(1e-5);
    expect(worst.name).toBe("layers.0.wv");
  });
});

describe("qat: the straight-through estimator", () => {
  const c = TINY;

  it("ternarize is absmean per tensor; activations are absmax int8 per row", () => {
    const w = Float64Array.from([0.3, -0.05, 0.1, -0.25, 0, 0.02]);
    const t = ternarize(w);
    expect(t.alpha).toBeCloseTo(0.72 / 6, 15);
    expect([...t.trits]).toEqual([1, 0, 1, -1, 0, 0]);
    expect([...t.values]).toEqual([...t.trits].map((v) => v * t.alpha));
    const x = Float64Array.from([0.5, -1, 0.25, 2, 0.01, -2]);
    const a = quantizeActivations(x, 2, 3);
    expect([...a.q]).toEqual([64, -127, 32, 127, 1, -127]);
    expect([...a.scale]).toEqual([1, 2]);
    expect(a.values[0]).toBeCloseTo(64 / 127, 15);
  });

  it("a quantized linear is y = (α·s/127)·(T·x_q), the integer product the kernels compute", () => {
    const normal = normalSource(3);
    const [N, C, OC] = [3, 16, 5];
    const w = Float64Array.from({ length: OC * C }, () => 0.1 * normal());
    const x = Float64Array.from({ length: N * C }, () => normal());
    const y = new Float64Array(N * OC);
    matmulForward(y, BITNET_QUANTIZER.input(x, N, C, ""), BITNET_QUANTIZER.weight(w, ""), N, C, OC);
    const t = ternarize(w);
    const a = quantizeActivations(x, N, C);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < OC; o++) {
        let acc = 0; // integer
        for (let k = 0; k < C; k++) acc += t.trits[o * C + k]! * a.q[n * C + k]!;
        expect(y[n * OC + o]).toBeCloseTo(((t.alpha * a.scale[n]!) / 127) * acc, 12);
      }
    }
  });

  it("weight STE: qat gradients equal fp32 gradients at the ternarized weights", () => {
    const p = checkParams(c, 21);
    const weightsOnly: Quantizer = { weight: BITNET_QUANTIZER.weight, input: FLOAT_QUANTIZER.input };
    const qat = lossAndGradsWith(p, c, TOKENS, weightsOnly);
    const atTernary = cloneParams(p);
    for (const layer of atTernary.layers) for (const name of LINEAR_NAMES) layer[name] = ternarize(layer[name]).values;
    const fp = lossAndGrads(atTernary, c, TOKENS, "fp32");
    expect(qat.loss).toBeCloseTo(fp.loss, 12);
    const fg = namedTensors(fp.grads);
    namedTensors(qat.grads).forEach((t, k) => {
      const ref = fg[k]!.tensor;
      for (let i = 0; i < ref.length; i++) expect(Math.abs(t.tensor[i]! - ref[i]!), t.name).toBeLessThan(1e-12);
    });
    // and quantization really changed something: the latent-weight fp32 gradient differs
    const latent = lossAndGrads(p, c, TOKENS, "fp32");
    expect(Math.abs(latent.loss - qat.loss)).toBeGreaterThan(1e-4);
  });

  it("full qat gradients are the exact gradients of x + stopgrad(q(x) − x) (central differences)", () => {
    const p = checkParams(c, 31);
    // record each quantizer's offset q(x) − x at p, then freeze it: a smooth surrogate
    const offsets = new Map<string, Float64Array>();
    const offset = (site: string, x: Float64Array, q: Float64Array) => {
      offsets.set(
        site,
        q.map((v, i) => v - x[i]!),
      );
      return q;
    };
    const recording: Quantizer = {
      weight: (w, site) => offset(`w:${site}`, w, BITNET_QUANTIZER.weight(w, site)),
      input: (x, r, k, site) => offset(`x:${site}`, x, BITNET_QUANTIZER.input(x, r, k, site)),
    };
    const qat = lossAndGrads(p, c, TOKENS, "qat");
    expect(lossOf(p, c, TOKENS, recording)).toBe(qat.loss);
    expect(offsets.size).toBe(c.layers * (7 + 4));
    const frozen = (site: string, x: Float64Array) => {
      const o = offsets.get(site)!;
      return x.map((v, i) => v + o[i]!);
    };
    const surrogate: Quantizer = {
      weight: (w, site) => frozen(`w:${site}`, w),
      input: (x, _r, _k, site) => frozen(`x:${site}`, x),
    };
    expect(Math.abs(lossOf(p, c, TOKENS, surrogate) - qat.loss)).toBeLessThan(1e-12);
    const { worst } = gradientCheck(p, qat.grads, (q) => lossOf(q, c, TOKENS, surrogate), 30, true);
    expect(worst.rel, JSON.stringify(worst)).toBeLessThan(1e-6);
    // the qat loss is not the fp32 loss: activations and weights were quantized
    expect(Math.abs(lossOf(p, c, TOKENS, "fp32") - qat.loss)).toBeGreaterThan(1e-4);
  });
});

describe("fp32 forward agrees with the inference engine", () => {
  it("a model without blocks, by hand: logits = E·(rmsnorm(E[token])·norm)", () => {
    const c: NanoConfig = { ...TINY, layers: 0, embedding: 2, heads: 1, kvHeads: 1, vocab: 3 };
    const p: NanoParams = {
      embedding: Float64Array.from([3, 4, 1, 0, 0, -2]),
      layers: [],
      finalNorm: Float64Array.from([1, 0.5]),
    };
    // token 0: x = (3, 4), rms = sqrt(12.5 + eps), normed = (3, 4)/rms·(1, 0.5) = (3, 2)/rms
    const rms = Math.sqrt(12.5 + c.eps);
    const expected = [(3 * 3 + 4 * 2) / rms, 3 / rms, -4 / rms];
    const logits = forwardLogits(p, c, [0], "fp32");
    expected.forEach((v, j) => {
      expect(logits[j]).toBeCloseTo(v, 12);
    });
    // loss of predicting token 2: logsumexp − logit
    const lse = Math.log(expected.reduce((s, v) => s + Math.exp(v), 0));
    expect(lossOf(p, c, [0, 2], "fp32")).toBeCloseTo(lse - expected[2]!, 12);
  });

  it("same weights written to a GGUF: BitNetForward (float activations) gives the same logits and loss", () => {
    const c: NanoConfig = { ...TINY, eps: Math.fround(1e-5), context: 16 };
    const p = checkParams(c, 41);
    // round to f32 first, so the two sides only differ in arithmetic
    for (const t of namedTensors(p)) t.tensor.set(Float32Array.from(t.tensor));
    const f32 = (a: Float64Array): Uint8Array => new Uint8Array(Float32Array.from(a).buffer);
    const tensors: GGUFTensorInput[] = [];
    const matrix = (name: string, a: Float64Array, rows: number, cols: number) =>
      tensors.push({ name, type: "F32", dims: [cols, rows], data: f32(a) });
    const vector = (name: string, a: Float64Array) =>
      tensors.push({ name, type: "F32", dims: [a.length], data: f32(a) });
    const d = headDim(c);
    matrix("token_embd.weight", p.embedding, c.vocab, c.embedding);
    vector("output_norm.weight", p.finalNorm);
    p.layers.forEach((l, i) => {
      const b = `blk.${i}`;
      vector(`${b}.attn_norm.weight`, l.attnNorm);
      matrix(`${b}.attn_q.weight`, l.wq, c.heads * d, c.embedding);
      matrix(`${b}.attn_k.weight`, l.wk, c.kvHeads * d, c.embedding);
      matrix(`${b}.attn_v.weight`, l.wv, c.kvHeads * d, c.embedding);
      matrix(`${b}.attn_output.weight`, l.wo, c.embedding, c.heads * d);
      vector(`${b}.attn_sub_norm.weight`, l.attnSubNorm);
      vector(`${b}.ffn_norm.weight`, l.ffnNorm);
      matrix(`${b}.ffn_gate.weight`, l.wGate, c.feedForward, c.embedding);
      matrix(`${b}.ffn_up.weight`, l.wUp, c.feedForward, c.embedding);
      matrix(`${b}.ffn_down.weight`, l.wDown, c.embedding, c.feedForward);
      vector(`${b}.ffn_sub_norm.weight`, l.ffnSubNorm);
    });
    const u32 = (value: number): GGUFValue => ({ type: "u32", value });
    const metadata: Array<[string, GGUFValue]> = [
      ["general.architecture", { type: "string", value: "bitnet" }],
      ["bitnet.context_length", u32(c.context)],
      ["bitnet.embedding_length", u32(c.embedding)],
      ["bitnet.block_count", u32(c.layers)],
      ["bitnet.feed_forward_length", u32(c.feedForward)],
      ["bitnet.attention.head_count", u32(c.heads)],
      ["bitnet.attention.head_count_kv", u32(c.kvHeads)],
      ["bitnet.attention.layer_norm_rms_epsilon", { type: "f32", value: c.eps }],
      ["bitnet.rope.freq_base", { type: "f32", value: c.ropeBase }],
      ["bitnet.rope.dimension_count", u32(d)],
      ["bitnet.vocab_size", u32(c.vocab)],
      ["bitnet.hidden_activation", { type: "string", value: "relu2" }],
    ];
    const file = parseGGUF(encodeGGUF({ metadata, tensors }));
    const config = readBitNetConfig(file);
    const engine = new BitNetForward(config, loadBitNetWeights(file, config), { activations: "float" });
    const inputs = TOKENS.slice(0, -1);
    const engineLogits = engine.forward(inputs, engine.newCache(), true);
    const ours = forwardLogits(p, c, inputs, "fp32");
    expect(engineLogits.length).toBe(ours.length);
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i]! - engineLogits[i]!));
    expect(diff).toBeLessThan(1e-4);
    expect(maxAbs(ours)).toBeGreaterThan(0.1);
    const engineLoss = crossEntropyForward(
      new Float64Array(ours.length),
      Float64Array.from(engineLogits),
      TOKENS.slice(1),
      c.vocab,
    );
    expect(Math.abs(engineLoss - lossOf(p, c, TOKENS, "fp32"))).toBeLessThan(1e-4);
  });
});
