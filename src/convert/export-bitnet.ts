/**
 * Exports a BitNet GGUF as an ONNX decoder in the Hugging Face Optimum convention, computing
 * exactly what BitNetForward computes in its float mode (`activations: "float"`):
 *
 *   inputs   input_ids int64 [batch, seq], attention_mask int64 [batch, past+seq],
 *            position_ids int64 [batch, seq],
 *            past_key_values.{i}.key|value [batch, kv_heads, past, head_dim]
 *   outputs  logits float32 [batch, seq, vocab], present.{i}.key|value [batch, kv_heads, past+seq, head_dim]
 *
 * Every weight is dequantized to fp32 (the file's `.scale` folded in); linear weights are stored
 * transposed as [in, out] for MatMul. Keys are stored rotated (as in our KV cache). Causality
 * follows the cache index (the query at index past+s sees keys 0..past+s), masked further by
 * attention_mask, so left-padded batches work with position_ids = cumsum(mask) - 1.
 * With kvType "float16" the past inputs and present outputs are float16, fp32 inside.
 */
import { dequantize, type PackedWeight } from "../../kernels/index.js";
import { type BitNetConfig, loadBitNetWeights, readBitNetConfig } from "../engines/bitnet/index.js";
import type { GGUFFile } from "../formats/gguf/index.js";
import { type Dim, type ElemType, elemTypeId, OnnxGraphBuilder } from "../formats/onnx/index.js";

export interface BitNetOnnxOptions {
  /** element type of past_key_values inputs and present outputs (default float32) */
  readonly kvType?: "float32" | "float16";
}

/** The Optimum decoder I/O names. */
export const DECODER_IO = {
  inputIds: "input_ids",
  attentionMask: "attention_mask",
  positionIds: "position_ids",
  logits: "logits",
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
} as const;

const BATCH = "batch_size";
const SEQ = "sequence_length";
const PAST = "past_sequence_length";
const TOTAL = "total_sequence_length";

/** The float32 lowest value: an additive mask that cannot overflow to -inf or produce NaN. */
const MASKED = -3.4028234663852886e38;

/** [rows x cols] row-major weight → fp32 [cols x rows] (in x out), times `scale`. */
function transposed(weight: PackedWeight, scale: number): Float32Array {
  const w = dequantize(weight);
  const { rows, cols } = weight;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = (w[o + c] ?? 0) * scale;
  }
  return out;
}

class BitNetGraph {
  readonly b: OnnxGraphBuilder;
  private readonly kvType: ElemType;

  constructor(
    private readonly c: BitNetConfig,
    options: BitNetOnnxOptions,
  ) {
    this.kvType = options.kvType ?? "float32";
    this.b = new OnnxGraphBuilder(`tritgate-${c.architecture}`, {
      producerName: "tritgate",
      docString: `BitNet decoder (${c.architecture}, ${c.layers} layers), Optimum I/O, KV ${this.kvType}`,
    });
  }

  rmsNorm(x: string, weight: string): string {
    const b = this.b;
    const square = b.op("Mul", [x, x]);
    const mean = b.op("ReduceMean", [square], { axes: [-1], keepdims: 1 });
    const root = b.op("Sqrt", [b.op("Add", [mean, b.floats([this.c.rmsEpsilon], [])])]);
    return b.op("Mul", [b.op("Div", [x, root]), weight]);
  }

  /**
   * NeoX rotation of x [batch, seq, heads, headDim] by cos/sin [batch, seq, 1, ropeDim/2]: element i
   * turns with element i + ropeDim/2, as the BitNet engine and llama.cpp run every bitnet architecture.
   */
  rope(x: string, cos: string, sin: string): string {
    const b = this.b;
    const { headDim, ropeDim } = this.c;
    const half = ropeDim / 2;
    const sizes = ropeDim < headDim ? [half, half, headDim - ropeDim] : [half, half];
    const [low, high, passed] = b.node("Split", [x, b.ints(sizes)], { axis: 3 }, { outputs: sizes.length }) as [
      string,
      string,
      string | undefined,
    ];
    const newLow = b.op("Sub", [b.op("Mul", [low, cos]), b.op("Mul", [high, sin])]);
    const newHigh = b.op("Add", [b.op("Mul", [low, sin]), b.op("Mul", [high, cos])]);
    return b.op("Concat", passed === undefined ? [newLow, newHigh] : [newLow, newHigh, passed], { axis: 3 });
  }

  build(file: GGUFFile): OnnxGraphBuilder {
    const b = this.b;
    const c = this.c;
    const weights = loadBitNetWeights(file, c);
    const qDim = c.heads * c.headDim;
    const group = c.heads / c.kvHeads;
    const kvDims: Dim[] = [BATCH, c.kvHeads, PAST, c.headDim];
    const presentDims: Dim[] = [BATCH, c.kvHeads, TOTAL, c.headDim];

    const inputIds = b.input(DECODER_IO.inputIds, "int64", [BATCH, SEQ]);
    const attentionMask = b.input(DECODER_IO.attentionMask, "int64", [BATCH, TOTAL]);
    const positionIds = b.input(DECODER_IO.positionIds, "int64", [BATCH, SEQ]);
    b.output(DECODER_IO.logits, "float32", [BATCH, SEQ, c.vocabSize]);
    const past = Array.from({ length: c.layers }, (_, l) => ({
      key: b.input(DECODER_IO.pastKey(l), this.kvType, kvDims),
      value: b.input(DECODER_IO.pastValue(l), this.kvType, kvDims),
    }));

    // additive mask [batch, 1, seq, total]: key j visible to query s iff j <= past + s and mask[j] = 1
    const mask = b.scoped("mask", () => {
      const one = b.ints([1], []);
      const total = b.op("Gather", [b.op("Shape", [attentionMask]), one], { axis: 0 });
      const seq = b.op("Gather", [b.op("Shape", [inputIds]), one], { axis: 0 });
      const start = b.op("Sub", [total, seq]);
      const queryIndex = b.op("Range", [start, total, one]);
      const keyIndex = b.op("Range", [b.ints([0], []), total, one]);
      const causal = b.op("LessOrEqual", [
        b.op("Unsqueeze", [keyIndex, b.ints([0])]),
        b.op("Unsqueeze", [queryIndex, b.ints([1])]),
      ]);
      const present = b.op("Unsqueeze", [b.op("Cast", [attentionMask], { to: elemTypeId("bool") }), b.ints([1, 2])]);
      const visible = b.op("And", [causal, present]);
      return b.op("Where", [visible, b.floats([0], []), b.floats([MASKED], [])]);
    });

    // rotary cos/sin [batch, seq, 1, ropeDim/2] from position_ids
    const [cos, sin] = b.scoped("rope", () => {
      const inverse = Float32Array.from({ length: c.ropeDim / 2 }, (_, i) => c.ropeBase ** ((-2 * i) / c.ropeDim));
      const frequencies = b.floatInitializer("rope.inv_freq", [c.ropeDim / 2], inverse);
      const position = b.op("Unsqueeze", [b.op("Cast", [positionIds], { to: elemTypeId("float32") }), b.ints([-1])]);
      const angles = b.op("Mul", [position, frequencies]);
      const axes = b.ints([2]);
      return [b.op("Unsqueeze", [b.op("Cos", [angles]), axes]), b.op("Unsqueeze", [b.op("Sin", [angles]), axes])];
    }) as [string, string];

    const embedding = b.floatInitializer(
      "token_embd.weight",
      [c.vocabSize, c.embedding],
      dequantize(weights.tokenEmbedding),
    );
    let x = b.op("Gather", [embedding, inputIds], { axis: 0 });

    const linear = (name: string, w: { weight: PackedWeight; scale: number }) =>
      b.floatInitializer(`${name}.weight`, [w.weight.cols, w.weight.rows], transposed(w.weight, w.scale));
    const vector = (name: string, v: Float32Array) => b.floatInitializer(name, [v.length], Float32Array.from(v));
    const scale = b.floats([1 / Math.sqrt(c.headDim)], []);
    const toFloat = { to: elemTypeId("float32") };
    const toKv = { to: elemTypeId(this.kvType) };

    weights.layers.forEach((w, l) => {
      const p = `blk.${l}`;
      x = b.scoped(p, () => {
        // attention block
        const n = this.rmsNorm(x, vector(`${p}.attn_norm.weight`, w.attnNorm));
        const heads = (proj: string, count: number) => b.op("Reshape", [proj, b.ints([0, 0, count, c.headDim])]);
        const toHeadMajor = { perm: [0, 2, 1, 3] };
        const q = b.op("MatMul", [n, linear(`${p}.attn_q`, w.q)]);
        const k = b.op("MatMul", [n, linear(`${p}.attn_k`, w.k)]);
        const v = b.op("MatMul", [n, linear(`${p}.attn_v`, w.v)]);
        const qh = b.op("Transpose", [this.rope(heads(q, c.heads), cos, sin)], toHeadMajor);
        const kh = b.op("Transpose", [this.rope(heads(k, c.kvHeads), cos, sin)], toHeadMajor);
        const vh = b.op("Transpose", [heads(v, c.kvHeads)], toHeadMajor);
        const f16 = this.kvType !== "float32";
        const pastKey = f16 ? b.op("Cast", [past[l]!.key], toFloat) : past[l]!.key;
        const pastValue = f16 ? b.op("Cast", [past[l]!.value], toFloat) : past[l]!.value;
        const presentKey = DECODER_IO.presentKey(l);
        const presentValue = DECODER_IO.presentValue(l);
        const keys = b.op("Concat", [pastKey, kh], { axis: 2 }, f16 ? undefined : presentKey);
        const values = b.op("Concat", [pastValue, vh], { axis: 2 }, f16 ? undefined : presentValue);
        if (f16) {
          b.op("Cast", [keys], toKv, presentKey);
          b.op("Cast", [values], toKv, presentValue);
        }
        b.output(presentKey, this.kvType, presentDims);
        b.output(presentValue, this.kvType, presentDims);
        // query head h reads KV head floor(h / group)
        const repeat = (kv: string) =>
          group === 1
            ? kv
            : b.op("Reshape", [
                b.op("Expand", [b.op("Unsqueeze", [kv, b.ints([2])]), b.ints([1, 1, group, 1, 1])]),
                b.ints([0, c.heads, -1, c.headDim]),
              ]);
        const keysT = b.op("Transpose", [repeat(keys)], { perm: [0, 1, 3, 2] });
        const scores = b.op("Add", [b.op("Mul", [b.op("MatMul", [qh, keysT]), scale]), mask]);
        const probabilities = b.op("Softmax", [scores], { axis: -1 });
        const context = b.op("MatMul", [probabilities, repeat(values)]);
        const merged = b.op("Reshape", [b.op("Transpose", [context], toHeadMajor), b.ints([0, 0, qDim])]);
        const normed = this.rmsNorm(merged, vector(`${p}.attn_sub_norm.weight`, w.attnSubNorm));
        const h = b.op("Add", [x, b.op("MatMul", [normed, linear(`${p}.attn_output`, w.o)])]);

        // feed-forward block
        const m = this.rmsNorm(h, vector(`${p}.ffn_norm.weight`, w.ffnNorm));
        const gate = b.op("MatMul", [m, linear(`${p}.ffn_gate`, w.gate)]);
        const up = b.op("MatMul", [m, linear(`${p}.ffn_up`, w.up)]);
        let act: string;
        if (c.activation === "relu2") {
          const r = b.op("Relu", [gate]);
          act = b.op("Mul", [r, r]);
        } else {
          act = b.op("Mul", [gate, b.op("Sigmoid", [gate])]);
        }
        const hidden = this.rmsNorm(b.op("Mul", [act, up]), vector(`${p}.ffn_sub_norm.weight`, w.ffnSubNorm));
        return b.op("Add", [h, b.op("MatMul", [hidden, linear(`${p}.ffn_down`, w.down)])]);
      });
    });

    b.scoped("head", () => {
      const normed = this.rmsNorm(x, vector("output_norm.weight", weights.outputNorm));
      // Gemm with transB reads the [vocab, embedding] table as is, so a tied head shares the embedding
      const head = weights.tiedOutput
        ? embedding
        : b.floatInitializer("output.weight", [c.vocabSize, c.embedding], dequantize(weights.output));
      const flat = b.op("Reshape", [normed, b.ints([-1, c.embedding])]);
      const logits = b.op("Gemm", [flat, head], { transB: 1 });
      const batchSeq = b.op("Slice", [b.op("Shape", [inputIds]), b.ints([0]), b.ints([2])]);
      const shape = b.op("Concat", [batchSeq, b.ints([c.vocabSize])], { axis: 0 });
      b.op("Reshape", [logits, shape], {}, DECODER_IO.logits);
    });
    return b;
  }
}

/** The decoder graph, not yet serialized (its counts feed the converter's summary). */
export function buildBitNetOnnx(file: GGUFFile, options: BitNetOnnxOptions = {}): OnnxGraphBuilder {
  return new BitNetGraph(readBitNetConfig(file), options).build(file);
}

/** The serialized ONNX model (ModelProto bytes) of a BitNet GGUF. */
export function exportBitNetToOnnx(file: GGUFFile, options: BitNetOnnxOptions = {}): Uint8Array {
  return buildBitNetOnnx(file, options).toBytes();
}
