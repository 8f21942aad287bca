/**
 * Trained parameters (flat float32, kernels/src/train.h layout) → a BitNet GGUF the engine
 * loads: llama.cpp's tensor names, the 2B-4T architecture ("bitnet-b1.58": ReLU² gated FFN,
 * attention and FFN sub-norms, tied embeddings), the tokenizer beside the training data embedded.
 *
 * Linear layers are written either ternary (TQ2_0 / TQ1_0 / I2_S: absmean ternarization, the
 * same W ≈ α·T the QAT forward pass multiplied; applied to fp32 weights it is the naive
 * post-training variant) or float (F32 / F16: the full-precision twin, which the ONNX exporter
 * turns into the fp32 ONNX model). Norms stay F32.
 *
 * The engine runs NeoX RoPE (element i with i + D/2), and so does the trainer now. Parameters
 * trained before the trainer switched (consecutive pairs 2i, 2i+1) are exported with each head's
 * Q/K rows reordered (pairsToNeoXRowSource), which is the same network under NeoX RoPE.
 */
import { quantize } from "../../kernels/index.js";
import { hfMetadata } from "../convert/from-hf.js";
import type { HFBitNetConfig } from "../convert/hf-config.js";
import { convertHFTokenizer } from "../convert/hf-tokenizer.js";
import { writeAtomically } from "../convert/output.js";
import {
  type EmbeddingTarget,
  packProblem,
  packTernary,
  pairsToNeoXRowSource,
  permuteRows,
  type TernaryTarget,
} from "../convert/tensors.js";
import type { GGUFTensorInput, GGUFValue } from "../formats/gguf/index.js";
import { flatLayout } from "./params.js";
import type { NanoConfig } from "./reference/model.js";

export type LinearExport = TernaryTarget | "F32" | "F16";

/** How a run's RoPE paired values: "neox" (i, i + D/2; the trainer now) or "pairs" (2i, 2i+1; before). */
export type RopePairing = "neox" | "pairs";

export interface GgufExportOptions {
  readonly linear: LinearExport;
  readonly embedding: EmbeddingTarget;
  /** the RoPE pairing the parameters were trained with; "pairs" reorders Q/K rows to NeoX */
  readonly trainedRope: RopePairing;
  /** folder with tokenizer.json + tokenizer_config.json */
  readonly tokenizerDir: string;
  /** general.name */
  readonly name: string;
  /** extra general.* metadata (e.g. how the file was produced) */
  readonly description?: string;
}

const LINEAR_GGUF: Readonly<Record<string, string>> = {
  wq: "attn_q",
  wk: "attn_k",
  wv: "attn_v",
  wo: "attn_output",
  wGate: "ffn_gate",
  wUp: "ffn_up",
  wDown: "ffn_down",
};
const NORM_GGUF: Readonly<Record<string, string>> = {
  attnNorm: "attn_norm",
  attnSubNorm: "attn_sub_norm",
  ffnNorm: "ffn_norm",
  ffnSubNorm: "ffn_sub_norm",
};

/** The GGUF tensor name (without `blk.N.` and `.weight`) of each per-layer trainer field. */
export const LAYER_TENSOR_GGUF: Readonly<Record<string, string>> = { ...LINEAR_GGUF, ...NORM_GGUF };

export function ggufConfig(c: NanoConfig): HFBitNetConfig {
  return {
    hfArchitecture: "BitNetForCausalLM",
    architecture: "bitnet-b1.58",
    hidden: c.embedding,
    intermediate: c.feedForward,
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.embedding / c.heads,
    layers: c.layers,
    rmsEpsilon: c.eps,
    ropeTheta: c.ropeBase,
    contextLength: c.context,
    vocabSize: c.vocab,
    activation: "relu2",
    tied: true,
    bosId: undefined,
    eosId: undefined,
    padId: undefined,
  };
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** The GGUF tensors of a trained model, produced lazily as the file is written. */
export function ggufTensors(
  params: Float32Array,
  c: NanoConfig,
  o: Pick<GgufExportOptions, "linear" | "embedding" | "trainedRope">,
) {
  const layout = flatLayout(c);
  const total = layout.reduce((n, t) => n + t.length, 0);
  if (params.length !== total) throw new RangeError(`the parameters hold ${params.length} values, the model ${total}`);
  const tensors: GGUFTensorInput[] = [];
  const view = (offset: number, length: number) => params.subarray(offset, offset + length);
  const headDim = c.embedding / c.heads;
  const neoxRows = (field: string, values: Float32Array): Float32Array => {
    if (o.trainedRope === "neox" || (field !== "wq" && field !== "wk")) return values;
    const heads = field === "wq" ? c.heads : c.kvHeads;
    return permuteRows(values, pairsToNeoXRowSource(heads, headDim), c.embedding);
  };
  for (const t of layout) {
    const values = view(t.offset, t.length);
    if (t.name === "embedding") {
      const problem = packProblem(o.embedding, c.embedding);
      if (problem) throw new RangeError(`embedding: ${problem}`);
      tensors.push({
        name: "token_embd.weight",
        type: o.embedding,
        dims: [c.embedding, c.vocab],
        data: () => quantize(o.embedding, values, c.vocab, c.embedding).data,
      });
    } else if (t.name === "finalNorm") {
      tensors.push({ name: "output_norm.weight", type: "F32", dims: [t.length], data: () => bytesOf(values) });
    } else {
      const [, layer, field] = t.name.split(".") as [string, string, string];
      if (t.kind === "norm") {
        tensors.push({
          name: `blk.${layer}.${NORM_GGUF[field]}.weight`,
          type: "F32",
          dims: [t.length],
          data: () => bytesOf(values),
        });
        continue;
      }
      const cols = field === "wo" ? c.embedding : field === "wDown" ? c.feedForward : c.embedding;
      const rows = t.length / cols;
      const name = `blk.${layer}.${LINEAR_GGUF[field]}.weight`;
      const linear = o.linear;
      if (linear === "F32" || linear === "F16") {
        tensors.push({
          name,
          type: linear,
          dims: [cols, rows],
          data: () => quantize(linear, neoxRows(field, values), rows, cols).data,
        });
      } else {
        const problem = packProblem(linear, cols);
        if (problem) throw new RangeError(`${name}: ${problem}`);
        tensors.push({
          name,
          type: linear,
          dims: [cols, rows],
          data: () => packTernary(linear, neoxRows(field, values), rows, cols),
        });
      }
    }
  }
  return tensors;
}

/** Writes the GGUF; returns its size in bytes. */
export async function exportGguf(
  params: Float32Array,
  c: NanoConfig,
  out: string,
  o: GgufExportOptions,
): Promise<number> {
  const config = ggufConfig(c);
  const metadata: Array<[string, GGUFValue]> = [
    ...hfMetadata(config, o.name),
    ...convertHFTokenizer(o.tokenizerDir, config),
  ];
  if (o.description) metadata.push(["general.description", { type: "string", value: o.description }]);
  return writeAtomically(out, { metadata, tensors: ggufTensors(params, c, o) });
}
