/**
 * The BitNet b1.58 forward pass, as a short sequence of named steps:
 *
 *   embed → per layer: attention block, feed-forward block → final norm → logits
 *
 * attention block:    n = rmsnorm(x); q,k,v = W·n; rope(q,k); cache(k,v); a = attend(q, cache);
 *                     a = subnorm(a); x += W_o·a
 * feed-forward block: m = rmsnorm(x); g,u = W·m; h = act(g)⊙u; h = subnorm(h); x += W_down·h
 *
 * Every ternary matmul quantizes its input to int8 per token (BitNet's absmax) inside the
 * kernel; `activations: "float"` keeps fp32 inputs instead (the float reference mode).
 * A call processes all its tokens as one batch (prefill M > 1, decode M = 1).
 */
import {
  attention,
  dequantize,
  floatOps,
  type Isa,
  isTernary,
  matmul,
  matmulShared,
  type PackedWeight,
  tensorBytes,
} from "../../../kernels/index.js";
import type { BitNetConfig } from "./config.js";
import { KVCache } from "./kv-cache.js";
import { gatedActivation, Rope, rmsNorm } from "./ops.js";
import type { StepProfile } from "./profile.js";
import type { BitNetWeights, LayerWeights, Linear } from "./weights.js";

export interface ForwardOptions {
  readonly activations?: "int8" | "float";
  readonly isa?: Isa;
  /** charge each step's time to it (diagnostics; off when absent) */
  readonly profile?: StepProfile;
}

/** Scratch for one batch of `rows` tokens, reused while the batch size repeats. */
class Scratch {
  readonly x: Float32Array;
  readonly norm: Float32Array;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly attn: Float32Array;
  readonly proj: Float32Array;
  readonly gate: Float32Array;
  readonly up: Float32Array;
  readonly ffnNorm: Float32Array;

  constructor(
    readonly rows: number,
    c: BitNetConfig,
  ) {
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    this.x = new Float32Array(rows * c.embedding);
    this.norm = new Float32Array(rows * c.embedding);
    this.q = new Float32Array(rows * qDim);
    this.k = new Float32Array(rows * kvDim);
    this.v = new Float32Array(rows * kvDim);
    this.attn = new Float32Array(rows * qDim);
    this.proj = new Float32Array(rows * Math.max(c.embedding, qDim));
    this.gate = new Float32Array(rows * c.feedForward);
    this.up = new Float32Array(rows * c.feedForward);
    this.ffnNorm = new Float32Array(rows * c.feedForward);
  }
}

export class BitNetForward {
  private readonly rope: Rope;
  private scratch: Scratch | undefined;
  private embeddingTable: Float32Array | undefined;
  private readonly embeddingRowBytes: number;

  constructor(
    readonly config: BitNetConfig,
    private readonly weights: BitNetWeights,
    private readonly options: ForwardOptions = {},
  ) {
    this.rope = new Rope(config.headDim, config.ropeDim, config.ropeBase);
    const e = weights.tokenEmbedding;
    this.embeddingRowBytes = e.type === "I2_S" ? -1 : tensorBytes(e.type, 1, e.cols);
  }

  newCache(contextLength = this.config.contextLength): KVCache {
    const capacity = Math.min(contextLength, this.config.contextLength);
    return new KVCache(this.config.layers, capacity, this.config.kvHeads * this.config.headDim);
  }

  /**
   * Runs `tokens` at the cache's next positions and returns the logits of the last token, or
   * of every token when `allLogits` (row-major [tokens x vocab]).
   */
  forward(tokens: readonly number[], cache: KVCache, allLogits = false): Float32Array {
    const rows = tokens.length;
    if (rows === 0) throw new Error("forward needs at least one token");
    cache.reserve(rows);
    const s = this.scratchFor(rows);
    this.options.profile?.start();
    this.embed(tokens, s.x);
    this.options.profile?.lap("embed");
    for (let l = 0; l < this.config.layers; l++) {
      const layer = this.weights.layers[l] as LayerWeights;
      this.attentionBlock(l, layer, s, cache);
      this.feedForwardBlock(layer, s);
    }
    cache.length += rows;
    return this.logits(s, allLogits);
  }

  private scratchFor(rows: number): Scratch {
    if (this.scratch?.rows !== rows) this.scratch = new Scratch(rows, this.config);
    return this.scratch;
  }

  private embed(tokens: readonly number[], out: Float32Array): void {
    const e = this.weights.tokenEmbedding;
    tokens.forEach((id, r) => {
      if (!Number.isInteger(id) || id < 0 || id >= e.rows) {
        throw new RangeError(`token id ${id} is outside the vocabulary (0..${e.rows - 1})`);
      }
      out.set(this.embeddingRow(id), r * e.cols);
    });
  }

  private embeddingRow(id: number): Float32Array {
    const e = this.weights.tokenEmbedding;
    if (e.type === "F32") return new Float32Array(e.data.buffer, e.data.byteOffset + id * e.cols * 4, e.cols);
    if (this.embeddingRowBytes < 0) {
      // I2_S keeps one scale after all rows, so rows cannot be decoded alone: decode once
      this.embeddingTable ??= dequantize(e);
      return this.embeddingTable.subarray(id * e.cols, (id + 1) * e.cols);
    }
    const at = id * this.embeddingRowBytes;
    return dequantize({ ...e, rows: 1, data: e.data.subarray(at, at + this.embeddingRowBytes) });
  }

  /**
   * Several linears reading the same input (q, k, v; gate, up) in one native call: one
   * activation quantization and, in decode, one pool job, with the results of separate calls.
   */
  private linearShared(ws: readonly Linear[], x: Float32Array, rows: number, outs: readonly Float32Array[]): void {
    const ternary = ws[0]?.ternary ?? false;
    if (ws.some((w) => w.ternary !== ternary || w.weight.cols !== ws[0]?.weight.cols)) {
      for (const [i, w] of ws.entries()) this.linear(w, x, rows, outs[i] as Float32Array);
      return;
    }
    const ys = ws.map((w, i) => (outs[i] as Float32Array).subarray(0, rows * w.weight.rows));
    matmulShared(
      ws.map((w) => w.weight),
      x.subarray(0, rows * (ws[0]?.weight.cols ?? 0)),
      rows,
      ys,
      { isa: this.options.isa, activations: ternary ? (this.options.activations ?? "int8") : "float" },
    );
    ws.forEach((w, i) => {
      if (w.scale !== 1) floatOps.scaleInPlace(ys[i] as Float32Array, w.scale);
    });
  }

  private linear(w: Linear, x: Float32Array, rows: number, out: Float32Array): Float32Array {
    const y = out.subarray(0, rows * w.weight.rows);
    matmul(w.weight, x.subarray(0, rows * w.weight.cols), rows, {
      out: y,
      isa: this.options.isa,
      activations: w.ternary ? (this.options.activations ?? "int8") : "float",
    });
    if (w.scale !== 1) floatOps.scaleInPlace(y, w.scale);
    return y;
  }

  private attentionBlock(l: number, w: LayerWeights, s: Scratch, cache: KVCache): void {
    const c = this.config;
    const rows = s.rows;
    const start = cache.length;
    const p = this.options.profile;
    rmsNorm(s.x, w.attnNorm, rows, c.rmsEpsilon, s.norm);
    p?.lap("norms");
    this.linearShared([w.q, w.k, w.v], s.norm, rows, [s.q, s.k, s.v]);
    p?.lap("ternary q,k,v");
    this.rope.apply(s.q, rows, c.heads, start);
    this.rope.apply(s.k, rows, c.kvHeads, start);
    p?.lap("rope");
    for (let r = 0; r < rows; r++) {
      const kv = c.kvHeads * c.headDim;
      cache.store(l, start + r, s.k.subarray(r * kv, (r + 1) * kv), s.v.subarray(r * kv, (r + 1) * kv));
    }
    p?.lap("kv store");
    attention(s.q, cache.keys[l] as Float32Array, cache.values[l] as Float32Array, rows, start, c, s.attn, {
      isa: this.options.isa,
    });
    p?.lap("attention");
    rmsNorm(s.attn, w.attnSubNorm, rows, c.rmsEpsilon, s.attn);
    p?.lap("norms");
    const o = this.linear(w.o, s.attn, rows, s.proj);
    p?.lap("ternary o");
    this.residual(s.x, o);
    p?.lap("residuals");
  }

  private feedForwardBlock(w: LayerWeights, s: Scratch): void {
    const c = this.config;
    const rows = s.rows;
    const p = this.options.profile;
    rmsNorm(s.x, w.ffnNorm, rows, c.rmsEpsilon, s.norm);
    p?.lap("norms");
    this.linearShared([w.gate, w.up], s.norm, rows, [s.gate, s.up]);
    const gate = s.gate.subarray(0, rows * w.gate.weight.rows);
    const up = s.up.subarray(0, rows * w.up.weight.rows);
    p?.lap("ternary gate,up");
    gatedActivation(c.activation, gate, up, gate);
    p?.lap("activation");
    rmsNorm(gate, w.ffnSubNorm, rows, c.rmsEpsilon, s.ffnNorm);
    p?.lap("norms");
    const down = this.linear(w.down, s.ffnNorm, rows, s.proj);
    p?.lap("ternary down");
    this.residual(s.x, down);
    p?.lap("residuals");
  }

  private residual(x: Float32Array, delta: Float32Array): void {
    floatOps.addInPlace(x.subarray(0, delta.length), delta);
  }

  /**
   * A Q8_0 head multiplies Q8_0-quantized activations, as llama.cpp does with such a head: integer
   * block sums instead of widening 328 M weights a token to fp32 (the float reference mode keeps fp32).
   */
  private headActivations(type: PackedWeight["type"]): "int8" | "q8_0" | "float" {
    if (isTernary(type)) return this.options.activations ?? "int8";
    return type === "Q8_0" && this.options.activations !== "float" ? "q8_0" : "float";
  }

  private logits(s: Scratch, all: boolean): Float32Array {
    const c = this.config;
    const first = all ? 0 : s.rows - 1;
    const rows = s.rows - first;
    const x = s.x.subarray(first * c.embedding);
    // s.norm is free once the last layer is done: no allocation per token
    const normed = s.norm.subarray(0, rows * c.embedding);
    rmsNorm(x, this.weights.outputNorm, rows, c.rmsEpsilon, normed);
    this.options.profile?.lap("norms");
    const head: PackedWeight = this.weights.output;
    const logits = matmul(head, normed, rows, { isa: this.options.isa, activations: this.headActivations(head.type) });
    this.options.profile?.lap(`head ${head.type}`);
    return logits;
  }
}
