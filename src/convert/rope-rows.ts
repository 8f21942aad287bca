/**
 * A BitNet GGUF whose Q/K rows were laid out for consecutive-pair RoPE (2i with 2i+1), as tritgate's
 * own trainer and GGUFs wrote them before the engine switched to NeoX RoPE, → the same network
 * under NeoX RoPE: each head's attn_q / attn_k rows are reordered (pairsToNeoXRowSource). Packed
 * ternary blocks run along a row, so TQ1_0 / TQ2_0 / I2_S / F16 / F32 rows move intact and the
 * I2_S per-tensor scale stays; every other tensor and all metadata are copied, and
 * general.description records the transform so it is not applied twice.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { type BitNetConfig, readBitNetConfig } from "../engines/bitnet/config.js";
import {
  type GGUFTensorInfo,
  type GGUFTensorInput,
  metaString,
  readGGUF,
  TENSOR_TYPES,
} from "../formats/gguf/index.js";
import { ConvertError } from "./errors.js";
import { type ConvertSummary, writeAtomically } from "./output.js";
import { pairsToNeoXRowSource, permuteRows } from "./tensors.js";

export const PAIRS_TO_NEOX_NOTE =
  "Q/K rows permuted from consecutive-pair RoPE to NeoX RoPE (tritgate convert --rope-pairs-to-neox)";

const ROPE_TENSOR = /^blk\.\d+\.(attn_q|attn_k)\.weight$/;

/** The tensor's bytes with its rows in NeoX order. */
function permutedData(
  path: string,
  t: GGUFTensorInfo,
  data: Uint8Array,
  heads: number,
  config: BitNetConfig,
): Uint8Array {
  const [cols = 0, rows = 1, ...rest] = t.dims;
  if (rest.some((d) => d !== 1)) throw new ConvertError(path, `tensor ${t.name} is not a matrix`);
  if (rows !== heads * config.headDim) {
    throw new ConvertError(path, `tensor ${t.name} has ${rows} rows, not ${heads} heads of ${config.headDim}`);
  }
  const info = TENSOR_TYPES[t.type];
  const rowBytes = (cols / info.block) * info.blockBytes;
  const rowsBytes = rows * rowBytes;
  const source = pairsToNeoXRowSource(heads, config.headDim, config.ropeDim);
  const out = data.slice();
  // I2_S keeps its per-tensor scale (and padding) after the rows: it stays where it is
  out.set(permuteRows(data.subarray(0, rowsBytes), source, rowBytes));
  return out;
}

export async function convertRopePairsToNeoX(input: string, out: string): Promise<ConvertSummary> {
  const started = performance.now();
  if (resolve(input) === resolve(out)) throw new ConvertError(out, "the output would overwrite the input");
  const file = await readGGUF(input);
  const config = readBitNetConfig(file);
  const description = metaString(file, "general.description");
  if (description?.includes(PAIRS_TO_NEOX_NOTE)) {
    throw new ConvertError(input, "its Q/K rows were already permuted to NeoX RoPE (general.description says so)");
  }
  let permuted = 0;
  const tensors = file.tensors.map((t): GGUFTensorInput => {
    const data = () => file.tensorData(t.name);
    if (!ROPE_TENSOR.test(t.name)) return { name: t.name, type: t.type, dims: t.dims, data };
    permuted++;
    const heads = t.name.endsWith("attn_q.weight") ? config.heads : config.kvHeads;
    return { name: t.name, type: t.type, dims: t.dims, data: () => permutedData(input, t, data(), heads, config) };
  });
  if (permuted !== 2 * config.layers) {
    throw new ConvertError(input, `has ${permuted} attn_q/attn_k tensors, ${2 * config.layers} expected`);
  }
  const note = description === undefined ? PAIRS_TO_NEOX_NOTE : `${description}; ${PAIRS_TO_NEOX_NOTE}`;
  const metadata = [...file.metadata].filter(([k]) => k !== "general.description");
  metadata.push(["general.description", { type: "string", value: note }]);
  const bytesOut = await writeAtomically(out, { metadata, tensors, alignment: file.alignment });
  return {
    tensors: tensors.length,
    bytesIn: (await stat(input)).size,
    bytesOut,
    seconds: (performance.now() - started) / 1000,
  };
}
