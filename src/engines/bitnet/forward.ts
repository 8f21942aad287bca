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
 *
 * `forwardBatch` advances several sequences in one step: their tokens are stacked into one
 * batch of rows, so every linear layer (q/k/v, o, gate/up, down, head) is one M-row matmul that
 * streams each weight once; RoPE rotates each row at its own position, and attention is one native
 * call per layer that stores each sequence's keys and values in its own cache and lets its rows
 * attend over it. A sequence may bring several tokens (prefill) beside others' one (decode).
 * Every step between matmuls is per row and the kernels give each row of an M-row product
 * exactly its M = 1 result, so a sequence's logits are bit for bit those of running it alone.
 * `forward` (one sequence) is the batch of one.
 */
import {
  type AttentionCache,
  attentionBatch,
  dequantizeRows,
  floatOps,
  type Isa,
  isTernary,
  type KvCacheType,
  matmul,
  matmulShared,
  type PackedWeight,
} from "../../../kernels/index.js";
import type { BitNetConfig } from "./config.js";
import { KVCache } from "./kv-cache.js";
import { gatedActivation, Rope, rmsNorm } from "./ops.js";
import type { StepProfile } from "./profile.js";
import type { BitNetWeights, LayerWeights, Linear } from "./weights.js";

export interface ForwardOptions {
  readonly activations?: "int8" | "float";
  /** what the KV caches store (default f32; f16 halves their bytes, attention still computes in fp32) */
  readonly kvCacheType?: KvCacheType;
  readonly isa?: Isa;
  /** charge each step's time to it (diagnostics; off when absent) */
  readonly profile?: StepProfile;
}

/** Per-row sizes of the scratch buffers, in floats. */
function scratchWidths(c: BitNetConfig) {
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  return {
    x: c.embedding,
    norm: c.embedding,
    q: qDim,
    k: kvDim,
    v: kvDim,
    attn: qDim,
    proj: Math.max(c.embedding, qDim),
    gate: c.feedForward,
    up: c.feedForward,
    ffnNorm: c.feedForward,
  };
}
type ScratchName = keyof ReturnType<typeof scratchWidths>;

/**
 * Scratch for one batch of `rows` tokens: views of buffers that grow to the largest batch seen,
 * so a scheduler whose batch changes every step allocates nothing per step.
 */
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
    buffers: Readonly<Record<ScratchName, Float32Array>>,
    widths: Readonly<Record<ScratchName, number>>,
  ) {
    const view = (name: ScratchName) => buffers[name].subarray(0, rows * widths[name]);
    this.x = view("x");
    this.norm = view("norm");
    this.q = view("q");
    this.k = view("k");
    this.v = view("v");
    this.attn = view("attn");
    this.proj = view("proj");
    this.gate = view("gate");
    this.up = view("up");
    this.ffnNorm = view("ffnNorm");
  }
}

/** One sequence's part of a batched step: its cache and the tokens to run at its next positions. */
export interface BatchStep {
  readonly cache: KVCache;
  readonly tokens: readonly number[];
  /** logits of every token (row-major [tokens x vocab]) instead of the last one's */
  readonly allLogits?: boolean;
  /** without allLogits: the last token's logits are written here (vocab floats) and it is returned */
  readonly logitsInto?: Float32Array;
}

/** Where a step's rows sit in the stacked batch, and where its sequence stands. */
interface Placed {
  readonly cache: KVCache;
  readonly logitsInto: Float32Array | undefined;
  readonly first: number;
  readonly rows: number;
  readonly start: number;
}

export class BitNetForward {
  private readonly rope: Rope;
  private readonly widths: Readonly<Record<ScratchName, number>>;
  private buffers: Record<ScratchName, Float32Array> | undefined;
  private bufferRows = 0;

  constructor(
    readonly config: BitNetConfig,
    private readonly weights: BitNetWeights,
    private readonly options: ForwardOptions = {},
  ) {
    this.rope = new Rope(config.headDim, config.ropeDim, config.ropeBase);
    this.widths = scratchWidths(config);
  }

  newCache(contextLength = this.config.contextLength): KVCache {
    const capacity = Math.min(contextLength, this.config.contextLength);
    return new KVCache(this.config.layers, capacity, this.config, this.kvCacheType);
  }

  get kvCacheType(): KvCacheType {
    return this.options.kvCacheType ?? "f32";
  }

  /**
   * Runs `tokens` at the cache's next positions and returns the logits of the last token, or
   * of every token when `allLogits` (row-major [tokens x vocab]).
   */
  forward(tokens: readonly number[], cache: KVCache, allLogits = false): Float32Array {
    return this.forwardBatch([{ cache, tokens, allLogits }])[0] as Float32Array;
  }

  /**
   * One step for several sequences, each with its own cache: returns, per step in order, the
   * logits of its last token (or of all its tokens with `allLogits`). Every cache is checked
   * before any work, so a step that would overflow one changes none.
   */
  forwardBatch(steps: readonly BatchStep[]): Float32Array[] {
    if (steps.length === 0) throw new Error("forwardBatch needs at least one sequence");
    const placed: Placed[] = [];
    let rows = 0;
    for (const step of steps) {
      if (step.tokens.length === 0) throw new Error("forward needs at least one token per sequence");
      if (placed.some((p) => p.cache === step.cache)) throw new Error("a sequence can appear only once in a step");
      const into = step.allLogits ? undefined : step.logitsInto;
      if (into !== undefined && into.length !== this.weights.output.rows) {
        throw new RangeError(
          `logitsInto holds ${into.length} floats, not the vocabulary's ${this.weights.output.rows}`,
        );
      }
      step.cache.reserve(step.tokens.length);
      placed.push({
        cache: step.cache,
        logitsInto: into,
        first: rows,
        rows: step.tokens.length,
        start: step.cache.length,
      });
      rows += step.tokens.length;
    }
    const s = this.scratchFor(rows);
    this.options.profile?.start();
    this.embed(steps, rows, s.x);
    // every row's rotation, once for all layers
    const angles = this.rope.angles(placed.flatMap((p) => Array.from({ length: p.rows }, (_, r) => p.start + r)));
    this.options.profile?.lap("embed");
    for (let l = 0; l < this.config.layers; l++) {
      const layer = this.weights.layers[l] as LayerWeights;
      this.attentionBlock(l, layer, s, placed, angles);
      this.feedForwardBlock(layer, s);
    }
    for (const p of placed) p.cache.length += p.rows;
    return this.logits(
      s,
      placed.map((p, i) =>
        steps[i]?.allLogits
          ? { first: p.first, rows: p.rows, into: undefined }
          : { first: p.first + p.rows - 1, rows: 1, into: p.logitsInto },
      ),
    );
  }

  /** the head's product when every row goes to a caller's buffer (logitsInto) */
  private headOut: Float32Array | undefined;

  private scratchFor(rows: number): Scratch {
    if (!this.buffers || this.bufferRows < rows) {
      const widths = this.widths;
      const make = (name: ScratchName) => new Float32Array(rows * widths[name]);
      this.buffers = {
        x: make("x"),
        norm: make("norm"),
        q: make("q"),
        k: make("k"),
        v: make("v"),
        attn: make("attn"),
        proj: make("proj"),
        gate: make("gate"),
        up: make("up"),
        ffnNorm: make("ffnNorm"),
      };
      this.bufferRows = rows;
    }
    return new Scratch(rows, this.buffers, this.widths);
  }

  /** Every step's token rows of the embedding into `out`, in one native call. */
  private embed(steps: readonly BatchStep[], rows: number, out: Float32Array): void {
    const e = this.weights.tokenEmbedding;
    const ids = new Int32Array(rows);
    let r = 0;
    for (const step of steps)
      for (const id of step.tokens) {
        if (!Number.isInteger(id) || id < 0 || id >= e.rows) {
          throw new RangeError(`token id ${id} is outside the vocabulary (0..${e.rows - 1})`);
        }
        ids[r++] = id;
      }
    dequantizeRows(e, ids, out.subarray(0, rows * e.cols));
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

  private attentionBlock(
    l: number,
    w: LayerWeights,
    s: Scratch,
    placed: readonly Placed[],
    angles: Float64Array,
  ): void {
    const c = this.config;
    const rows = s.rows;
    const p = this.options.profile;
    rmsNorm(s.x, w.attnNorm, rows, c.rmsEpsilon, s.norm);
    p?.lap("norms");
    this.linearShared([w.q, w.k, w.v], s.norm, rows, [s.q, s.k, s.v]);
    p?.lap("ternary q,k,v");
    this.rope.apply(s.q, rows, c.heads, angles);
    this.rope.apply(s.k, rows, c.kvHeads, angles);
    p?.lap("rope");
    // stores each sequence's k, v rows in its cache, then attends
    attentionBatch(
      s.q,
      s.k,
      s.v,
      placed.map((seq) => ({
        cache: seq.cache.layers[l] as AttentionCache,
        first: seq.first,
        rows: seq.rows,
        start: seq.start,
      })),
      c,
      s.attn,
      { isa: this.options.isa },
    );
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

  /**
   * The head over the rows that want logits (each step's last row, or all of its rows), gathered
   * into one M-row matmul: the head is the largest read of a step and streams once for all.
   */
  private logits(
    s: Scratch,
    wanted: ReadonlyArray<{ first: number; rows: number; into: Float32Array | undefined }>,
  ): Float32Array[] {
    const c = this.config;
    const rows = wanted.reduce((n, w) => n + w.rows, 0);
    // s.norm is free once the last layer is done: no allocation per token
    const normed = s.norm.subarray(0, rows * c.embedding);
    // consecutive wanted rows (a decode step's, one a sequence) are normalized in one call
    const runs: Array<{ first: number; rows: number }> = [];
    for (const w of wanted) {
      const last = runs[runs.length - 1];
      if (last && last.first + last.rows === w.first) last.rows += w.rows;
      else runs.push({ first: w.first, rows: w.rows });
    }
    let at = 0;
    for (const run of runs) {
      const x = s.x.subarray(run.first * c.embedding, (run.first + run.rows) * c.embedding);
      rmsNorm(x, this.weights.outputNorm, run.rows, c.rmsEpsilon, normed.subarray(at * c.embedding));
      at += run.rows;
    }
    this.options.profile?.lap("norms");
    const head: PackedWeight = this.weights.output;
    const vocab = head.rows;
    // when every row is copied out to its sequence's own buffer, the product goes to a reused scratch:
    // a fresh rows x vocab array a step is garbage the collector would chase ~10 times a second at nano rates
    const out = wanted.every((w) => w.into !== undefined) ? this.headScratch(rows * vocab) : undefined;
    const logits = matmul(head, normed, rows, {
      out,
      isa: this.options.isa,
      activations: this.headActivations(head.type),
    });
    this.options.profile?.lap(`head ${head.type}`);
    let from = 0;
    return wanted.map((w) => {
      const part = logits.subarray(from * vocab, (from + w.rows) * vocab);
      from += w.rows;
      if (w.into === undefined) return part;
      w.into.set(part);
      return w.into;
    });
  }

  private headScratch(floats: number): Float32Array {
    if (!this.headOut || this.headOut.length < floats) this.headOut = new Float32Array(floats);
    return this.headOut.subarray(0, floats);
  }
}
