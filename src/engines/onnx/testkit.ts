/**
 * Test-only: tiny decoder LLMs in the Hugging Face Optimum ONNX convention, built in memory with
 * onnx-proto so the engine's tests do not depend on our own exporter. The graphs make different
 * choices than an exporter would (learned absolute positions, grouped-query attention by folding
 * the query groups into rows, positions from attention_mask's cumsum when position_ids is left
 * out, inputs in any order) so the engine is tested against the convention, not one exporter.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { randomFloats, seededRandom } from "../../util/seeded-random.js";
import { writeTinyTokenizer } from "../tokenizer/testkit.js";

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
type Dim = number | string;

export interface TinyDecoderSpec {
  readonly layers?: number;
  readonly hidden?: number;
  readonly heads?: number;
  readonly kvHeads?: number;
  readonly ffn?: number;
  readonly vocab?: number;
  /** rows of the learned position table */
  readonly maxPositions?: number;
  /** false: the graph has no position_ids input and derives positions from attention_mask */
  readonly positionIds?: boolean;
  readonly kvType?: "float32" | "float16";
  readonly logitsType?: "float32" | "float16";
  /** "shuffled" lists the graph inputs in an unusual order (KV first, ids last) */
  readonly inputOrder?: "optimum" | "shuffled";
  /** kv_heads / head_dim written as symbolic dims in the KV input declarations */
  readonly symbolicKvDims?: boolean;
  /** every input and output declares a batch of exactly 1 (graphs exported for one sequence) */
  readonly fixedBatch?: boolean;
  readonly seed?: number;
}

interface AttrValue {
  readonly i?: number;
  readonly f?: number;
  readonly ints?: readonly number[];
}

function attribute(name: string, value: AttrValue) {
  if (value.ints !== undefined) return { name, type: AT.INTS, ints: [...value.ints] };
  if (value.f !== undefined) return { name, type: AT.FLOAT, f: value.f };
  return { name, type: AT.INT, i: value.i ?? 0 };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private count = 0;

  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.count++}`;
    this.nodes.push({
      opType,
      name: `${opType}_${this.count++}`,
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  floats(name: string, dims: readonly number[], values: Float32Array): string {
    this.initializers.push({
      name,
      dataType: DT.FLOAT,
      dims: [...dims],
      rawData: new Uint8Array(values.slice().buffer),
    });
    return name;
  }

  int64s(name: string, dims: readonly number[], values: readonly number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name, dataType: DT.INT64, dims: [...dims], rawData: new Uint8Array(data.buffer) });
    return name;
  }
}

function encodeModel(graph: GraphBuilder, inputs: unknown[], outputs: unknown[], name: string): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "tritgate-test",
    graph: {
      name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: inputs as onnxProto.onnx.IValueInfoProto[],
      output: outputs as onnxProto.onnx.IValueInfoProto[],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface TinyDecoder {
  readonly bytes: Uint8Array;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  /** graph input names in the order the graph lists them */
  readonly inputNames: readonly string[];
}

/** A random-weight decoder: embedding + learned positions → layers of (LN, GQA, LN, SiLU MLP) → LN → logits. */
export function tinyDecoder(spec: TinyDecoderSpec = {}): TinyDecoder {
  const layers = spec.layers ?? 2;
  const hidden = spec.hidden ?? 32;
  const heads = spec.heads ?? 4;
  const kvHeads = spec.kvHeads ?? 2;
  const headDim = hidden / heads;
  const group = heads / kvHeads;
  const ffn = spec.ffn ?? 64;
  const vocab = spec.vocab ?? 300;
  const maxPositions = spec.maxPositions ?? 64;
  const kvType = spec.kvType ?? "float32";
  const kvElem = kvType === "float16" ? DT.FLOAT16 : DT.FLOAT;
  let stream = (spec.seed ?? 1) * 7919;
  const random = (count: number, scale: number) => randomFloats(count, seededRandom(++stream), scale);
  const g = new GraphBuilder();

  // shared constants
  const one = g.int64s("c_one", [], [1]);
  const zero = g.int64s("c_zero", [], [0]);
  const idx1 = g.int64s("c_idx1", [], [1]);
  const axes0 = g.int64s("c_axes0", [1], [0]);
  const axes1 = g.int64s("c_axes1", [1], [1]);
  const axes12 = g.int64s("c_axes12", [2], [1, 2]);
  const fzero = g.floats("c_fzero", [], Float32Array.of(0));
  const fneg = g.floats("c_fneg", [], Float32Array.of(-1e9));
  const scale = g.floats("c_scale", [], Float32Array.of(1 / Math.sqrt(headDim)));
  const shape = (name: string, dims: readonly number[]) => g.int64s(name, [dims.length], dims);
  const qShape = shape("c_q_shape", [0, 0, kvHeads, group, headDim]);
  const qRows = shape("c_q_rows", [0, 0, -1, headDim]);
  const kvShape = shape("c_kv_shape", [0, 0, kvHeads, headDim]);
  const ctxShape = shape("c_ctx_shape", [0, 0, group, -1, headDim]);
  const outShape = shape("c_out_shape", [0, 0, heads * headDim]);
  const tileReps = shape("c_tile", [1, 1, group, 1]);
  const layerNorm = (x: string, name: string) =>
    g.op(
      "LayerNormalization",
      [
        x,
        g.floats(
          `${name}.gamma`,
          [hidden],
          Float32Array.from(random(hidden, 0.1), (v) => 1 + v),
        ),
        g.floats(`${name}.beta`, [hidden], random(hidden, 0.05)),
      ],
      { axis: { i: -1 }, epsilon: { f: 1e-5 } },
    );
  const linear = (x: string, name: string, rows: number, cols: number, s: number) =>
    g.op("MatMul", [x, g.floats(name, [rows, cols], random(rows * cols, s))]);

  // lengths: S new tokens, T = past + S in the mask, P = T - S cached
  const seqLen = g.op("Gather", [g.op("Shape", ["input_ids"]), idx1], { axis: { i: 0 } });
  const totalLen = g.op("Gather", [g.op("Shape", ["attention_mask"]), idx1], { axis: { i: 0 } });
  const pastLen = g.op("Sub", [totalLen, seqLen]);

  let positions = "position_ids";
  if (spec.positionIds === false) {
    // 1-based running count of attended tokens, the last S of them, made 0-based
    const counted = g.op("CumSum", ["attention_mask", idx1]);
    const starts = g.op("Unsqueeze", [g.op("Neg", [seqLen]), axes0]);
    const ends = g.int64s("c_end", [1], [Number.MAX_SAFE_INTEGER]);
    positions = g.op("Sub", [g.op("Slice", [counted, starts, ends, axes1]), one]);
  }
  let x = g.op("Add", [
    g.op("Gather", [g.floats("embed_tokens", [vocab, hidden], random(vocab * hidden, 1)), "input_ids"], {
      axis: { i: 0 },
    }),
    g.op(
      "Gather",
      [g.floats("embed_positions", [maxPositions, hidden], random(maxPositions * hidden, 0.5)), positions],
      {
        axis: { i: 0 },
      },
    ),
  ]);

  // additive mask [B, 1, G*S, T]: key t visible to query s when t <= P + s and attention_mask[t] = 1
  const keyIdx = g.op("Unsqueeze", [g.op("Range", [zero, totalLen, one]), axes0]);
  const queryIdx = g.op("Unsqueeze", [g.op("Range", [pastLen, totalLen, one]), axes1]);
  const causal = g.op("LessOrEqual", [keyIdx, queryIdx]);
  const attended = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", axes12])], { to: { i: DT.BOOL } });
  const bias = g.op("Tile", [g.op("Where", [g.op("And", [causal, attended]), fzero, fneg]), tileReps]);

  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}`;
    const h = layerNorm(x, `${p}.ln1`);
    const q = g.op("Reshape", [
      g.op("Transpose", [g.op("Reshape", [linear(h, `${p}.wq`, hidden, heads * headDim, 0.3), qShape])], {
        perm: { ints: [0, 2, 3, 1, 4] },
      }),
      qRows,
    ]);
    const project = (name: string) =>
      g.op("Transpose", [g.op("Reshape", [linear(h, `${p}.${name}`, hidden, kvHeads * headDim, 0.3), kvShape])], {
        perm: { ints: [0, 2, 1, 3] },
      });
    const cache = (fresh: string, kind: "key" | "value") => {
      const present = `present.${l}.${kind}`;
      const past = `past_key_values.${l}.${kind}`;
      if (kvType === "float32") return g.op("Concat", [past, fresh], { axis: { i: 2 } }, present);
      g.op("Concat", [past, g.op("Cast", [fresh], { to: { i: DT.FLOAT16 } })], { axis: { i: 2 } }, present);
      return g.op("Cast", [present], { to: { i: DT.FLOAT } });
    };
    const keys = cache(project("wk"), "key");
    const values = cache(project("wv"), "value");
    const scores = g.op("MatMul", [q, g.op("Transpose", [keys], { perm: { ints: [0, 1, 3, 2] } })]);
    const probs = g.op("Softmax", [g.op("Add", [g.op("Mul", [scores, scale]), bias])], { axis: { i: -1 } });
    const context = g.op("Reshape", [
      g.op("Transpose", [g.op("Reshape", [g.op("MatMul", [probs, values]), ctxShape])], {
        perm: { ints: [0, 3, 1, 2, 4] },
      }),
      outShape,
    ]);
    x = g.op("Add", [x, linear(context, `${p}.wo`, heads * headDim, hidden, 0.3)]);
    const up = linear(layerNorm(x, `${p}.ln2`), `${p}.w1`, hidden, ffn, 0.3);
    x = g.op("Add", [x, linear(g.op("Mul", [up, g.op("Sigmoid", [up])]), `${p}.w2`, ffn, hidden, 0.2)]);
  }
  const final = layerNorm(x, "ln_f");
  if (spec.logitsType === "float16") {
    g.op("Cast", [linear(final, "lm_head", hidden, vocab, 0.4)], { to: { i: DT.FLOAT16 } }, "logits");
  } else {
    g.op("Identity", [linear(final, "lm_head", hidden, vocab, 0.4)], {}, "logits");
  }

  const batch: Dim = spec.fixedBatch ? 1 : "batch_size";
  const kvDims: Dim[] = spec.symbolicKvDims
    ? [batch, "num_key_value_heads", "past_sequence_length", "head_dim"]
    : [batch, kvHeads, "past_sequence_length", headDim];
  const presentDims: Dim[] = [batch, kvHeads, "total_sequence_length", headDim];
  const idInputs = [
    valueInfo("input_ids", DT.INT64, [batch, "sequence_length"]),
    valueInfo("attention_mask", DT.INT64, [batch, "total_sequence_length"]),
    ...(spec.positionIds === false ? [] : [valueInfo("position_ids", DT.INT64, [batch, "sequence_length"])]),
  ];
  const kvInputs = Array.from({ length: layers }, (_, l) => [
    valueInfo(`past_key_values.${l}.key`, kvElem, kvDims),
    valueInfo(`past_key_values.${l}.value`, kvElem, kvDims),
  ]).flat();
  const inputs =
    spec.inputOrder === "shuffled" ? [...kvInputs.reverse(), ...idInputs.reverse()] : [...idInputs, ...kvInputs];
  const outputs = [
    valueInfo("logits", spec.logitsType === "float16" ? DT.FLOAT16 : DT.FLOAT, [batch, "sequence_length", vocab]),
    ...Array.from({ length: layers }, (_, l) => [
      valueInfo(`present.${l}.key`, kvElem, presentDims),
      valueInfo(`present.${l}.value`, kvElem, presentDims),
    ]).flat(),
  ];
  return {
    bytes: encodeModel(g, inputs, outputs, "tiny-decoder"),
    layers,
    kvHeads,
    headDim,
    vocab,
    inputNames: inputs.map((i) => i.name),
  };
}

export interface StubKv {
  readonly heads: Dim;
  readonly dim: Dim;
}

export interface StubDecoderSpec {
  readonly inputIdsName?: string;
  readonly logitsName?: string;
  /** KV declarations of each past layer */
  readonly past: readonly StubKv[];
  /** how many layers get present outputs (default: all) */
  readonly presentLayers?: number;
  readonly vocab?: number;
}

/**
 * A graph that only has the right interface: logits from a table lookup, present = past. Enough
 * for ORT to load it and for the engine to read (and reject) its signature.
 */
export function stubDecoder(spec: StubDecoderSpec): Uint8Array {
  const vocab = spec.vocab ?? 300;
  const idsName = spec.inputIdsName ?? "input_ids";
  const g = new GraphBuilder();
  const table = g.floats("table", [vocab, vocab], randomFloats(vocab * vocab, seededRandom(5), 1));
  g.op("Gather", [table, idsName], { axis: { i: 0 } }, spec.logitsName ?? "logits");
  const presentLayers = spec.presentLayers ?? spec.past.length;
  const inputs = [
    valueInfo(idsName, DT.INT64, ["batch_size", "sequence_length"]),
    valueInfo("attention_mask", DT.INT64, ["batch_size", "total_sequence_length"]),
  ];
  const outputs = [valueInfo(spec.logitsName ?? "logits", DT.FLOAT, ["batch_size", "sequence_length", vocab])];
  spec.past.forEach((kv, l) => {
    for (const kind of ["key", "value"]) {
      const dims: Dim[] = ["batch_size", kv.heads, "past_sequence_length", kv.dim];
      inputs.push(valueInfo(`past_key_values.${l}.${kind}`, DT.FLOAT, dims));
      if (l < presentLayers) {
        g.op("Identity", [`past_key_values.${l}.${kind}`], {}, `present.${l}.${kind}`);
        outputs.push(valueInfo(`present.${l}.${kind}`, DT.FLOAT, dims));
      }
    }
  });
  return encodeModel(g, inputs, outputs, "stub-decoder");
}

export interface TinyModelDirOptions {
  /** config.json's max_position_embeddings; null writes no config.json */
  readonly maxPositions?: number | null;
  /** false leaves the tokenizer files out */
  readonly tokenizer?: boolean;
}

/** Writes model.onnx plus tokenizer.json, tokenizer_config.json (with a chat template) and config.json. */
export function writeModelDir(dir: string, model: Uint8Array, options: TinyModelDirOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "model.onnx");
  writeFileSync(path, model);
  if (options.tokenizer !== false) writeTinyTokenizer(dir, { vocab: 300 });
  const maxPositions = options.maxPositions === undefined ? 64 : options.maxPositions;
  if (maxPositions !== null) {
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ model_type: "tiny", max_position_embeddings: maxPositions, vocab_size: 300 }),
    );
  }
  return path;
}

/** The largest absolute difference of two logits vectors of the same length (a length mismatch is infinite). */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}
