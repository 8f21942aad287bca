/**
 * Re-quantizes a BitNet GGUF: the linear layers (blk.N.attn_q/k/v/attn_output/ffn_gate/ffn_up/
 * ffn_down.weight) become the requested ternary type; every other tensor and all metadata are
 * copied unchanged. Float weights are absmean-ternarized; weights that are already ternary
 * (packed, or float holding one magnitude) are re-packed without changing their values.
 *
 * `headType` re-packs the output head: `output.weight` when the file has one, else the tied
 * token embedding itself (it stays tied). A separate output.weight beside a tied embedding would
 * keep the lookup in F16, but llama.cpp's bitnet loader refuses a tensor it does not expect
 * ("wrong number of tensors"), and a file llama.cpp cannot check is not one we want to write.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { dequantize, isTernary, quantize, type WeightType } from "../../kernels/index.js";
import { readBitNetConfig } from "../engines/bitnet/config.js";
import { type GGUFTensorInfo, type GGUFTensorInput, readGGUF } from "../formats/gguf/index.js";
import { toFloat32 } from "../formats/safetensors/index.js";
import { ConvertError } from "./errors.js";
import { type ConvertSummary, writeAtomically } from "./output.js";
import { type HeadTarget, isTernaryValued, packAsIs, packProblem, packTernary, type TernaryTarget } from "./tensors.js";

export const LINEAR_TENSOR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

function floatsOf(path: string, t: GGUFTensorInfo, data: Uint8Array, rows: number, cols: number): Float32Array {
  switch (t.type) {
    case "F32":
    case "F16":
    case "BF16":
      return toFloat32(t.type, data);
    case "Q8_0":
    case "Q6_K":
    case "TQ1_0":
    case "TQ2_0":
    case "I2_S":
      return dequantize({ type: t.type as WeightType, rows, cols, data });
    default:
      throw new ConvertError(path, `tensor ${t.name} is ${t.type}, which the converter cannot read`);
  }
}

export interface GGUFConvertOptions {
  /** pack the output head (output.weight, or the tied token_embd.weight) as this type */
  readonly headType?: HeadTarget;
}

/** The output head (output.weight or the tied token_embd.weight) re-packed as `type`. */
function headTensor(path: string, source: GGUFTensorInfo, data: Uint8Array, type: HeadTarget): GGUFTensorInput {
  const [cols = 0, rows = 1, ...rest] = source.dims;
  if (rest.some((d) => d !== 1)) throw new ConvertError(path, `tensor ${source.name} is not a matrix`);
  const problem = packProblem(type, cols);
  if (problem) throw new ConvertError(path, `output head: ${problem}`);
  return {
    name: source.name,
    type,
    dims: [cols, rows],
    data: () => quantize(type, floatsOf(path, source, data, rows, cols), rows, cols).data,
  };
}

export async function convertFromGGUF(
  input: string,
  out: string,
  type: TernaryTarget,
  options: GGUFConvertOptions = {},
): Promise<ConvertSummary> {
  const started = performance.now();
  if (resolve(input) === resolve(out)) throw new ConvertError(out, "the output would overwrite the input");
  const file = await readGGUF(input);
  readBitNetConfig(file); // the architecture and hyper-parameters must be ours
  let linears = 0;
  const headType = options.headType;
  const headName = file.tensors.some((t) => t.name === "output.weight") ? "output.weight" : "token_embd.weight";
  const tensors: GGUFTensorInput[] = file.tensors.map((t): GGUFTensorInput => {
    if (headType !== undefined && t.name === headName) return headTensor(input, t, file.tensorData(t.name), headType);
    if (!LINEAR_TENSOR.test(t.name)) return { name: t.name, type: t.type, dims: t.dims, data: file.tensorData(t.name) };
    const [cols = 0, rows = 1, ...rest] = t.dims;
    if (rest.some((d) => d !== 1)) throw new ConvertError(input, `tensor ${t.name} is not a matrix`);
    const problem = packProblem(type, cols);
    if (problem) throw new ConvertError(input, `tensor ${t.name}: ${problem}`);
    linears++;
    return {
      name: t.name,
      type,
      dims: [cols, rows],
      data: () => {
        const values = floatsOf(input, t, file.tensorData(t.name), rows, cols);
        if (!isTernary(t.type) && !isTernaryValued(values)) return packTernary(type, values, rows, cols);
        const packed = packAsIs(type, values, rows, cols);
        if ("problem" in packed) {
          throw new ConvertError(
            input,
            `tensor ${t.name}: re-packing ${t.type} as ${type} is lossy (${packed.problem})`,
          );
        }
        return packed.data;
      },
    };
  });
  if (linears === 0) throw new ConvertError(input, "has no linear layer weights (blk.N.attn_q.weight, …) to quantize");
  const bytesOut = await writeAtomically(out, { metadata: file.metadata, tensors, alignment: file.alignment });
  return {
    tensors: tensors.length,
    bytesIn: (await stat(input)).size,
    bytesOut,
    seconds: (performance.now() - started) / 1000,
  };
}
