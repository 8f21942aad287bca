/**
 * The reference training step of the nano model: a full causal forward pass over one sequence,
 * the mean next-token cross-entropy, and an exact backward pass. Plain float64 loops, each
 * operation's backward written beside its forward (llm.c style); every backward ACCUMULATES
 * into its gradient buffers (+=), so a tensor read in several places just sums its gradients.
 *
 * The forward pass is the inference engine's (src/engines/bitnet/forward.ts), over all T
 * positions at once:
 *
 *   x = embedding[tokens]
 *   per layer:  n = rmsnorm(x)·attnNorm;  q,k,v = W·n;  rope(q, k);  a = causal GQA attention
 *               s = rmsnorm(a)·attnSubNorm;  x += wo·s
 *               m = rmsnorm(x)·ffnNorm;  g,u = W·m;  h = relu(g)²⊙u;  z = rmsnorm(h)·ffnSubNorm
 *               x += wDown·z
 *   logits = embedding · (rmsnorm(x)·finalNorm)        (tied head)
 *
 * Quantization-aware training ("qat"), BitNet b1.58: the seven linear layers of
 * every block (wq, wk, wv, wo, wGate, wUp, wDown) multiply
 *   - absmean-ternarized weights  Ŵ = α·clamp(round(W/α), −1, 1), α = mean|W| per tensor, and
 *   - absmax-int8 inputs          x̂ = (s/127)·clamp(round(127·x/s), −127, 127), s = max|x| per row.
 * The embedding, the tied output head and all norms stay float.
 *
 * Straight-through estimator (STE), exactly: the two quantizers are treated as the identity in
 * the backward pass, and nothing else is.
 *   - weight quantizer: dL/dW (latent float weight, the parameter) := dL/dŴ = doutᵀ · x̂
 *     (computed with the QUANTIZED input x̂ the forward pass used);
 *   - input quantizer:  dL/dx (the norm output feeding the linear) := dL/dx̂ = dout · Ŵ
 *     (computed with the TERNARIZED-AND-SCALED weight Ŵ the forward pass used).
 * Every other operation (norms, RoPE, attention, ReLU², residuals, embedding, head,
 * cross-entropy) is differentiated exactly at the values the quantized forward pass produced.
 * Equivalently: qat gradients are the exact gradients of the surrogate in which each quantizer
 * is x ↦ x + stopGradient(q(x) − x); the tests check precisely that.
 */
import {
  headDim,
  type LayerParams,
  LINEAR_NAMES,
  type LinearName,
  type NanoConfig,
  type NanoParams,
  zeroParams,
} from "./model.js";

export type TrainingMode = "fp32" | "qat";

/**
 * What the linear layers multiply in the forward pass. The backward always passes straight
 * through it (see the file comment), so the identity quantizer gives the exact fp32 gradient.
 */
export interface Quantizer {
  /** the weight a linear layer multiplies, from its latent float weight [rows x cols] */
  weight(w: Float64Array, site: string): Float64Array;
  /** the input a linear layer multiplies, from `rows` rows of `cols` values */
  input(x: Float64Array, rows: number, cols: number, site: string): Float64Array;
}

/** Round half away from zero (C's roundf, what the native side will use). */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Smallest scale used for α and max|x|, so an all-zero tensor or row quantizes to zeros. */
export const QUANT_EPS = 1e-5;

/** Absmean ternarization per tensor: Ŵ = α·T, T = clamp(round(W/α), −1, 1), α = max(mean|W|, QUANT_EPS). */
export function ternarize(w: Float64Array): { values: Float64Array; trits: Int8Array; alpha: number } {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += Math.abs(w[i]!);
  const alpha = Math.max(w.length > 0 ? sum / w.length : 0, QUANT_EPS);
  const trits = new Int8Array(w.length);
  const values = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const t = Math.max(-1, Math.min(1, roundHalfAway(w[i]! / alpha)));
    trits[i] = t;
    values[i] = t === 0 ? 0 : alpha * t; // never −0
  }
  return { values, trits, alpha };
}

/**
 * Per-row absmax int8: q = clamp(round(127·x/s), −127, 127), s = max(max|x|, QUANT_EPS);
 * `values` holds the dequantized q·s/127 the forward pass multiplies.
 */
export function quantizeActivations(
  x: Float64Array,
  rows: number,
  cols: number,
): { values: Float64Array; q: Int8Array; scale: Float64Array } {
  const q = new Int8Array(rows * cols);
  const values = new Float64Array(rows * cols);
  const scale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = 0;
    for (let i = 0; i < cols; i++) max = Math.max(max, Math.abs(x[o + i]!));
    const s = Math.max(max, QUANT_EPS);
    scale[r] = s;
    for (let i = 0; i < cols; i++) {
      const v = Math.max(-127, Math.min(127, roundHalfAway((127 * x[o + i]!) / s)));
      q[o + i] = v;
      values[o + i] = (v * s) / 127;
    }
  }
  return { values, q, scale };
}

export const FLOAT_QUANTIZER: Quantizer = {
  weight: (w) => w,
  input: (x) => x,
};

export const BITNET_QUANTIZER: Quantizer = {
  weight: (w) => ternarize(w).values,
  input: (x, rows, cols) => quantizeActivations(x, rows, cols).values,
};

export function quantizerFor(mode: TrainingMode): Quantizer {
  return mode === "qat" ? BITNET_QUANTIZER : FLOAT_QUANTIZER;
}

// ---------------------------------------------------------------------------------------------
// encoder: x[t] = embedding[token t]

export function embeddingForward(out: Float64Array, tokens: readonly number[], table: Float64Array, C: number): void {
  tokens.forEach((id, t) => {
    out.set(table.subarray(id * C, (id + 1) * C), t * C);
  });
}

export function embeddingBackward(dtable: Float64Array, dout: Float64Array, tokens: readonly number[], C: number) {
  tokens.forEach((id, t) => {
    for (let i = 0; i < C; i++) dtable[id * C + i]! += dout[t * C + i]!;
  });
}

// ---------------------------------------------------------------------------------------------
// RMSNorm: out = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps), per row of C values

export function rmsnormForward(
  out: Float64Array,
  rstd: Float64Array,
  x: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let i = 0; i < C; i++) ss += x[o + i]! * x[o + i]!;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let i = 0; i < C; i++) out[o + i] = x[o + i]! * r * w[i]!;
  }
}

/** dx_i += rstd·g_i − rstd³·x_i·mean_j(g_j·x_j) with g = dout⊙w;  dw_i += dout_i·x_i·rstd. */
export function rmsnormBackward(
  dx: Float64Array,
  dw: Float64Array,
  dout: Float64Array,
  x: Float64Array,
  rstd: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n]!;
    let dot = 0;
    for (let i = 0; i < C; i++) dot += dout[o + i]! * w[i]! * x[o + i]!;
    const k = (r * r * r * dot) / C;
    for (let i = 0; i < C; i++) {
      dx[o + i]! += r * dout[o + i]! * w[i]! - k * x[o + i]!;
      dw[i]! += dout[o + i]! * x[o + i]! * r;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// linear (no bias): out[n, o] = Σ_c inp[n, c] · w[o, c], w is [OC x C]

export function matmulForward(
  out: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c]! * w[o * C + c]!;
      out[n * OC + o] = s;
    }
  }
}

/**
 * dinp += dout · w, dw += doutᵀ · inp. `inp` and `w` are the tensors the forward pass
 * multiplied: under QAT the quantized x̂ and Ŵ, which is the straight-through estimator.
 */
export function matmulBackward(
  dinp: Float64Array,
  dw: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  w: Float64Array,
  N: number,
  C: number,
  OC: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[n * OC + o]!;
      if (d === 0) continue;
      for (let c = 0; c < C; c++) {
        dinp[n * C + c]! += d * w[o * C + c]!;
        dw[o * C + c]! += d * inp[n * C + c]!;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE with NeoX pairing, as the engine and llama.cpp run the bitnet architectures: element i of
// each head turns with element i + d/2 by pos·base^(−2i/d); row t is position t

function ropeAngles(T: number, d: number, base: number): { cos: Float64Array; sin: Float64Array } {
  const half = d / 2;
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * base ** ((-2 * i) / d);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export function ropeForward(out: Float64Array, x: Float64Array, T: number, heads: number, d: number, base: number) {
  const { cos, sin } = ropeAngles(T, d, base);
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const at = (t * heads + h) * d + i;
        const c = cos[t * half + i]!;
        const s = sin[t * half + i]!;
        const a = x[at]!;
        const b = x[at + half]!;
        out[at] = a * c - b * s;
        out[at + half] = a * s + b * c;
      }
    }
  }
}

/** The rotation is orthogonal: dx = Rᵀ·dout, i.e. a rotation by the opposite angle. */
export function ropeBackward(dx: Float64Array, dout: Float64Array, T: number, heads: number, d: number, base: number) {
  const { cos, sin } = ropeAngles(T, d, base);
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const at = (t * heads + h) * d + i;
        const c = cos[t * half + i]!;
        const s = sin[t * half + i]!;
        const da = dout[at]!;
        const db = dout[at + half]!;
        dx[at]! += da * c + db * s;
        dx[at + half]! += -da * s + db * c;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// causal grouped-query attention: query head h reads KV head floor(h / (heads / kvHeads));
// q [T x heads·d], k, v [T x kvHeads·d]; att [heads x T x T] keeps the softmax probabilities

export interface AttentionShape {
  readonly T: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly d: number;
}

export function attentionForward(
  out: Float64Array,
  att: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  { T, heads, kvHeads, d }: AttentionShape,
): void {
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(d);
  const qs = heads * d;
  const ks = kvHeads * d;
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const row = (h * T + t) * T;
      let max = Number.NEGATIVE_INFINITY;
      for (let u = 0; u <= t; u++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += q[t * qs + h * d + i]! * k[u * ks + kh * d + i]!;
        s *= scale;
        att[row + u] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let u = 0; u <= t; u++) {
        const e = Math.exp(att[row + u]! - max);
        att[row + u] = e;
        sum += e;
      }
      for (let u = 0; u < T; u++) att[row + u] = u <= t ? att[row + u]! / sum : 0;
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let u = 0; u <= t; u++) s += att[row + u]! * v[u * ks + kh * d + i]!;
        out[t * qs + h * d + i] = s;
      }
    }
  }
}

/** Softmax backward: dpre_u = p_u·(dp_u − Σ_j p_j·dp_j); then q·kᵀ's product rule. */
export function attentionBackward(
  dq: Float64Array,
  dk: Float64Array,
  dv: Float64Array,
  dout: Float64Array,
  att: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  { T, heads, kvHeads, d }: AttentionShape,
): void {
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(d);
  const qs = heads * d;
  const ks = kvHeads * d;
  const dp = new Float64Array(T);
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const row = (h * T + t) * T;
      let dot = 0;
      for (let u = 0; u <= t; u++) {
        const p = att[row + u]!;
        let s = 0;
        for (let i = 0; i < d; i++) {
          const g = dout[t * qs + h * d + i]!;
          s += g * v[u * ks + kh * d + i]!;
          dv[u * ks + kh * d + i]! += p * g;
        }
        dp[u] = s;
        dot += p * s;
      }
      for (let u = 0; u <= t; u++) {
        const dpre = att[row + u]! * (dp[u]! - dot) * scale;
        for (let i = 0; i < d; i++) {
          dq[t * qs + h * d + i]! += dpre * k[u * ks + kh * d + i]!;
          dk[u * ks + kh * d + i]! += dpre * q[t * qs + h * d + i]!;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gated ReLU²: out = relu(g)²·u

export function reluSquaredGateForward(out: Float64Array, g: Float64Array, u: Float64Array): void {
  for (let i = 0; i < g.length; i++) {
    const r = Math.max(g[i]!, 0);
    out[i] = r * r * u[i]!;
  }
}

/** dg += dout·u·2·relu(g), du += dout·relu(g)². */
export function reluSquaredGateBackward(
  dg: Float64Array,
  du: Float64Array,
  dout: Float64Array,
  g: Float64Array,
  u: Float64Array,
): void {
  for (let i = 0; i < g.length; i++) {
    const r = Math.max(g[i]!, 0);
    dg[i]! += dout[i]! * u[i]! * 2 * r;
    du[i]! += dout[i]! * r * r;
  }
}

// ---------------------------------------------------------------------------------------------
// residual: x += delta (its backward passes dout unchanged to both branches)

export function residualForward(x: Float64Array, delta: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i]! += delta[i]!;
}

// ---------------------------------------------------------------------------------------------
// softmax cross-entropy, mean over T rows of V logits

export function crossEntropyForward(
  probs: Float64Array,
  logits: Float64Array,
  targets: readonly number[],
  V: number,
): number {
  const T = targets.length;
  let loss = 0;
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[o + j]!);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j]! - max);
    for (let j = 0; j < V; j++) probs[o + j] = Math.exp(logits[o + j]! - max) / sum;
    loss += max + Math.log(sum) - logits[o + targets[t]!]!;
  }
  return loss / T;
}

/** dlogits += (probs − onehot(target)) / T. */
export function crossEntropyBackward(
  dlogits: Float64Array,
  probs: Float64Array,
  targets: readonly number[],
  V: number,
): void {
  const T = targets.length;
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < V; j++) {
      dlogits[t * V + j]! += (probs[t * V + j]! - (j === targets[t] ? 1 : 0)) / T;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the model

interface LayerActivations {
  xIn: Float64Array;
  n1: Float64Array;
  rstd1: Float64Array;
  n1q: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  qr: Float64Array;
  kr: Float64Array;
  att: Float64Array;
  a: Float64Array;
  s1: Float64Array;
  rstdS1: Float64Array;
  s1q: Float64Array;
  x2: Float64Array;
  n2: Float64Array;
  rstd2: Float64Array;
  n2q: Float64Array;
  g: Float64Array;
  u: Float64Array;
  h: Float64Array;
  s2: Float64Array;
  rstdS2: Float64Array;
  s2q: Float64Array;
  /** the weights the forward pass multiplied (quantized under QAT) */
  w: Record<LinearName, Float64Array>;
}

interface Activations {
  T: number;
  layers: LayerActivations[];
  xL: Float64Array;
  xf: Float64Array;
  rstdF: Float64Array;
  logits: Float64Array;
}

function checkTokens(c: NanoConfig, tokens: readonly number[], min: number): void {
  if (tokens.length < min) throw new RangeError(`need at least ${min} tokens, got ${tokens.length}`);
  if (tokens.length - (min - 1) > c.context) throw new RangeError(`sequence longer than the context ${c.context}`);
  for (const id of tokens) {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocab) throw new RangeError(`token ${id} outside 0..${c.vocab - 1}`);
  }
}

function forwardPass(p: NanoParams, c: NanoConfig, inputs: readonly number[], quant: Quantizer): Activations {
  const T = inputs.length;
  const E = c.embedding;
  const F = c.feedForward;
  const d = headDim(c);
  const Q = c.heads * d;
  const KV = c.kvHeads * d;
  const shape: AttentionShape = { T, heads: c.heads, kvHeads: c.kvHeads, d };
  let x = new Float64Array(T * E);
  embeddingForward(x, inputs, p.embedding, E);
  const layers: LayerActivations[] = [];
  p.layers.forEach((lp, l) => {
    const site = (name: string) => `layers.${l}.${name}`;
    const w = {} as Record<LinearName, Float64Array>;
    for (const name of LINEAR_NAMES) w[name] = quant.weight(lp[name], site(name));
    const A = { xIn: x, w } as LayerActivations;
    // attention block
    A.n1 = new Float64Array(T * E);
    A.rstd1 = new Float64Array(T);
    rmsnormForward(A.n1, A.rstd1, x, lp.attnNorm, T, E, c.eps);
    A.n1q = quant.input(A.n1, T, E, site("qkvInput"));
    A.q = new Float64Array(T * Q);
    A.k = new Float64Array(T * KV);
    A.v = new Float64Array(T * KV);
    matmulForward(A.q, A.n1q, w.wq, T, E, Q);
    matmulForward(A.k, A.n1q, w.wk, T, E, KV);
    matmulForward(A.v, A.n1q, w.wv, T, E, KV);
    A.qr = new Float64Array(T * Q);
    A.kr = new Float64Array(T * KV);
    ropeForward(A.qr, A.q, T, c.heads, d, c.ropeBase);
    ropeForward(A.kr, A.k, T, c.kvHeads, d, c.ropeBase);
    A.att = new Float64Array(c.heads * T * T);
    A.a = new Float64Array(T * Q);
    attentionForward(A.a, A.att, A.qr, A.kr, A.v, shape);
    A.s1 = new Float64Array(T * Q);
    A.rstdS1 = new Float64Array(T);
    rmsnormForward(A.s1, A.rstdS1, A.a, lp.attnSubNorm, T, Q, c.eps);
    A.s1q = quant.input(A.s1, T, Q, site("woInput"));
    const o = new Float64Array(T * E);
    matmulForward(o, A.s1q, w.wo, T, Q, E);
    A.x2 = x.slice();
    residualForward(A.x2, o);
    // feed-forward block
    A.n2 = new Float64Array(T * E);
    A.rstd2 = new Float64Array(T);
    rmsnormForward(A.n2, A.rstd2, A.x2, lp.ffnNorm, T, E, c.eps);
    A.n2q = quant.input(A.n2, T, E, site("gateUpInput"));
    A.g = new Float64Array(T * F);
    A.u = new Float64Array(T * F);
    matmulForward(A.g, A.n2q, w.wGate, T, E, F);
    matmulForward(A.u, A.n2q, w.wUp, T, E, F);
    A.h = new Float64Array(T * F);
    reluSquaredGateForward(A.h, A.g, A.u);
    A.s2 = new Float64Array(T * F);
    A.rstdS2 = new Float64Array(T);
    rmsnormForward(A.s2, A.rstdS2, A.h, lp.ffnSubNorm, T, F, c.eps);
    A.s2q = quant.input(A.s2, T, F, site("wDownInput"));
    const down = new Float64Array(T * E);
    matmulForward(down, A.s2q, w.wDown, T, F, E);
    x = A.x2.slice();
    residualForward(x, down);
    layers.push(A);
  });
  const xf = new Float64Array(T * E);
  const rstdF = new Float64Array(T);
  rmsnormForward(xf, rstdF, x, p.finalNorm, T, E, c.eps);
  const logits = new Float64Array(T * c.vocab);
  matmulForward(logits, xf, p.embedding, T, E, c.vocab);
  return { T, layers, xL: x, xf, rstdF, logits };
}

/** Logits [T x vocab] of `inputs` (T tokens at positions 0..T-1). */
export function forwardLogits(p: NanoParams, c: NanoConfig, inputs: readonly number[], mode: TrainingMode | Quantizer) {
  checkTokens(c, inputs, 1);
  return forwardPass(p, c, inputs, typeof mode === "string" ? quantizerFor(mode) : mode).logits;
}

/** Mean next-token cross-entropy of tokens[1..T] given tokens[0..T-1], forward only. */
export function lossOf(p: NanoParams, c: NanoConfig, tokens: readonly number[], mode: TrainingMode | Quantizer) {
  checkTokens(c, tokens, 2);
  const acts = forwardPass(p, c, tokens.slice(0, -1), typeof mode === "string" ? quantizerFor(mode) : mode);
  return crossEntropyForward(new Float64Array(acts.logits.length), acts.logits, tokens.slice(1), c.vocab);
}

export interface LossAndGrads {
  readonly loss: number;
  readonly grads: NanoParams;
}

/**
 * Loss and gradients with respect to every parameter, for `tokens` of length T+1 (inputs
 * tokens[0..T-1], targets tokens[1..T]). In "qat" mode the gradients of the linear weights are
 * the STE gradients of the latent float weights (see the file comment).
 */
export function lossAndGrads(p: NanoParams, c: NanoConfig, tokens: readonly number[], mode: TrainingMode) {
  return lossAndGradsWith(p, c, tokens, quantizerFor(mode));
}

export function lossAndGradsWith(
  p: NanoParams,
  c: NanoConfig,
  tokens: readonly number[],
  quant: Quantizer,
): LossAndGrads {
  checkTokens(c, tokens, 2);
  const inputs = tokens.slice(0, -1);
  const targets = tokens.slice(1);
  const acts = forwardPass(p, c, inputs, quant);
  const T = acts.T;
  const E = c.embedding;
  const F = c.feedForward;
  const V = c.vocab;
  const d = headDim(c);
  const Q = c.heads * d;
  const KV = c.kvHeads * d;
  const shape: AttentionShape = { T, heads: c.heads, kvHeads: c.kvHeads, d };
  const probs = new Float64Array(T * V);
  const loss = crossEntropyForward(probs, acts.logits, targets, V);

  const grads = zeroParams(c);
  const dlogits = new Float64Array(T * V);
  crossEntropyBackward(dlogits, probs, targets, V);
  const dxf = new Float64Array(T * E);
  matmulBackward(dxf, grads.embedding, dlogits, acts.xf, p.embedding, T, E, V);
  // dx: gradient of the residual stream, flowing backwards through the blocks
  const dx = new Float64Array(T * E);
  rmsnormBackward(dx, grads.finalNorm, dxf, acts.xL, acts.rstdF, p.finalNorm, T, E);
  for (let l = c.layers - 1; l >= 0; l--) {
    const A = acts.layers[l]!;
    const lp = p.layers[l]!;
    const lg: LayerParams = grads.layers[l]!;
    // feed-forward block: x3 = x2 + wDown·ŝ2; dx already holds dL/dx3, which is also dL/dx2's residual part
    const ds2 = new Float64Array(T * F); // dL/dŝ2 = dL/ds2 by the STE
    matmulBackward(ds2, lg.wDown, dx, A.s2q, A.w.wDown, T, F, E);
    const dh = new Float64Array(T * F);
    rmsnormBackward(dh, lg.ffnSubNorm, ds2, A.h, A.rstdS2, lp.ffnSubNorm, T, F);
    const dg = new Float64Array(T * F);
    const du = new Float64Array(T * F);
    reluSquaredGateBackward(dg, du, dh, A.g, A.u);
    const dn2 = new Float64Array(T * E);
    matmulBackward(dn2, lg.wGate, dg, A.n2q, A.w.wGate, T, E, F);
    matmulBackward(dn2, lg.wUp, du, A.n2q, A.w.wUp, T, E, F);
    rmsnormBackward(dx, lg.ffnNorm, dn2, A.x2, A.rstd2, lp.ffnNorm, T, E);
    // attention block: x2 = x + wo·ŝ1
    const ds1 = new Float64Array(T * Q);
    matmulBackward(ds1, lg.wo, dx, A.s1q, A.w.wo, T, Q, E);
    const da = new Float64Array(T * Q);
    rmsnormBackward(da, lg.attnSubNorm, ds1, A.a, A.rstdS1, lp.attnSubNorm, T, Q);
    const dqr = new Float64Array(T * Q);
    const dkr = new Float64Array(T * KV);
    const dv = new Float64Array(T * KV);
    attentionBackward(dqr, dkr, dv, da, A.att, A.qr, A.kr, A.v, shape);
    const dq = new Float64Array(T * Q);
    const dk = new Float64Array(T * KV);
    ropeBackward(dq, dqr, T, c.heads, d, c.ropeBase);
    ropeBackward(dk, dkr, T, c.kvHeads, d, c.ropeBase);
    const dn1 = new Float64Array(T * E);
    matmulBackward(dn1, lg.wq, dq, A.n1q, A.w.wq, T, E, Q);
    matmulBackward(dn1, lg.wk, dk, A.n1q, A.w.wk, T, E, KV);
    matmulBackward(dn1, lg.wv, dv, A.n1q, A.w.wv, T, E, KV);
    rmsnormBackward(dx, lg.attnNorm, dn1, A.xIn, A.rstd1, lp.attnNorm, T, E);
  }
  embeddingBackward(grads.embedding, dx, inputs, E);
  return { loss, grads };
}
