/**
 * Hugging Face BitNet checkpoint directory → our BitNet GGUF. Tensors are renamed to llama.cpp's
 * names, q/k rows keep Hugging Face's order (rotate_half pairs element i with i + D/2, which is
 * the NeoX RoPE the engine runs, as llama.cpp's and bitnet.cpp's converters keep it), linear
 * weights are absmean-ternarized and packed, norms stay F32 and the embedding becomes
 * F16/F32/Q8_0. Every tensor is produced lazily while the GGUF is written, one at a time.
 */
import { basename, resolve } from "node:path";
import { quantize } from "../../kernels/index.js";
import type { GGUFTensorInput, GGUFValue } from "../formats/gguf/index.js";
import { type Checkpoint, openCheckpoint } from "./checkpoint.js";
import { ConvertError } from "./errors.js";
import { type HFBitNetConfig, parseHFConfig, readJson } from "./hf-config.js";
import { convertHFTokenizer } from "./hf-tokenizer.js";
import { type ConvertSummary, writeAtomically } from "./output.js";
import { type EmbeddingTarget, packProblem, packTernary, type TernaryTarget } from "./tensors.js";

export interface HFConvertOptions {
  /** packed type of the linear projections (default TQ2_0) */
  readonly type?: TernaryTarget;
  /** type of token_embd / output (default F16) */
  readonly embeddingType?: EmbeddingTarget;
}

/** Tensors that carry no weights and are safe to leave behind. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

export function hfMetadata(c: HFBitNetConfig, name: string): Array<[string, GGUFValue]> {
  const arch = c.architecture;
  const u32 = (value: number): GGUFValue => ({ type: "u32", value });
  const f32 = (value: number): GGUFValue => ({ type: "f32", value });
  const metadata: Array<[string, GGUFValue]> = [
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: name }],
    [`${arch}.context_length`, u32(c.contextLength)],
    [`${arch}.embedding_length`, u32(c.hidden)],
    [`${arch}.block_count`, u32(c.layers)],
    [`${arch}.feed_forward_length`, u32(c.intermediate)],
    [`${arch}.attention.head_count`, u32(c.heads)],
    [`${arch}.attention.head_count_kv`, u32(c.kvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsEpsilon)],
    [`${arch}.rope.freq_base`, f32(c.ropeTheta)],
    [`${arch}.rope.dimension_count`, u32(c.headDim)],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.hidden_activation`, { type: "string", value: c.activation }],
  ];
  if (c.headDim * c.heads !== c.hidden) {
    metadata.push([`${arch}.attention.key_length`, u32(c.headDim)], [`${arch}.attention.value_length`, u32(c.headDim)]);
  }
  return metadata;
}

interface Plan {
  readonly tensors: GGUFTensorInput[];
  readonly used: Set<string>;
}

function planTensors(ck: Checkpoint, c: HFBitNetConfig, type: TernaryTarget, embeddingType: EmbeddingTarget): Plan {
  const tensors: GGUFTensorInput[] = [];
  const used = new Set<string>();
  const pick = (candidates: readonly string[]): string => {
    const found = candidates.find((n) => ck.has(n));
    if (found === undefined) throw new ConvertError(ck.dir, `the checkpoint has no tensor ${candidates.join(" or ")}`);
    used.add(found);
    return found;
  };
  const checkShape = (name: string, shape: readonly number[]) => {
    const info = ck.info(name);
    const got = info.shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ConvertError(
        info.file,
        `tensor ${name} has shape [${got.join(", ")}] but config.json implies [${shape.join(", ")}]`,
      );
    }
    return info;
  };
  const readChecked = (name: string, length: number): Float32Array => {
    const values = ck.readFloat32(name);
    if (values.length !== length)
      throw new ConvertError(ck.info(name).file, `tensor ${name} has ${values.length} values`);
    return values;
  };

  const norm = (gguf: string, candidates: readonly string[], length: number) => {
    const hf = pick(candidates);
    checkShape(hf, [length]);
    tensors.push({
      name: gguf,
      type: "F32",
      dims: [length],
      data: () => {
        const v = readChecked(hf, length);
        return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      },
    });
  };
  const linear = (gguf: string, hfName: string, rows: number, cols: number) => {
    const hf = pick([hfName]);
    const info = checkShape(hf, [rows, cols]);
    const problem = packProblem(type, cols);
    if (problem) throw new ConvertError(info.file, `tensor ${hf}: ${problem}`);
    tensors.push({
      name: gguf,
      type,
      dims: [cols, rows],
      data: () => {
        return packTernary(type, readChecked(hf, rows * cols), rows, cols);
      },
    });
  };
  const embedding = (gguf: string, hfName: string) => {
    const hf = pick([hfName]);
    const info = checkShape(hf, [c.vocabSize, c.hidden]);
    const problem = packProblem(embeddingType, c.hidden);
    if (problem) throw new ConvertError(info.file, `tensor ${hf}: ${problem}`);
    tensors.push({
      name: gguf,
      type: embeddingType,
      dims: [c.hidden, c.vocabSize],
      data: () => quantize(embeddingType, readChecked(hf, c.vocabSize * c.hidden), c.vocabSize, c.hidden).data,
    });
  };

  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  embedding("token_embd.weight", "model.embed_tokens.weight");
  for (let i = 0; i < c.layers; i++) {
    const hf = `model.layers.${i}`;
    const p = `blk.${i}`;
    norm(`${p}.attn_norm.weight`, [`${hf}.input_layernorm.weight`], c.hidden);
    linear(`${p}.attn_q.weight`, `${hf}.self_attn.q_proj.weight`, qDim, c.hidden);
    linear(`${p}.attn_k.weight`, `${hf}.self_attn.k_proj.weight`, kvDim, c.hidden);
    linear(`${p}.attn_v.weight`, `${hf}.self_attn.v_proj.weight`, kvDim, c.hidden);
    linear(`${p}.attn_output.weight`, `${hf}.self_attn.o_proj.weight`, c.hidden, qDim);
    // 2B-4T calls the sub-norms attn_sub_norm / ffn_sub_norm, 1bitLLM inner_attn_ln / ffn_layernorm
    norm(
      `${p}.attn_sub_norm.weight`,
      [`${hf}.self_attn.attn_sub_norm.weight`, `${hf}.self_attn.inner_attn_ln.weight`],
      qDim,
    );
    norm(`${p}.ffn_norm.weight`, [`${hf}.post_attention_layernorm.weight`], c.hidden);
    linear(`${p}.ffn_gate.weight`, `${hf}.mlp.gate_proj.weight`, c.intermediate, c.hidden);
    linear(`${p}.ffn_up.weight`, `${hf}.mlp.up_proj.weight`, c.intermediate, c.hidden);
    linear(`${p}.ffn_down.weight`, `${hf}.mlp.down_proj.weight`, c.hidden, c.intermediate);
    norm(
      `${p}.ffn_sub_norm.weight`,
      [`${hf}.mlp.ffn_sub_norm.weight`, `${hf}.mlp.ffn_layernorm.weight`],
      c.intermediate,
    );
  }
  norm("output_norm.weight", ["model.norm.weight"], c.hidden);
  if (c.tied) used.add("lm_head.weight");
  else embedding("output.weight", "lm_head.weight");
  return { tensors, used };
}

/** Converts a Hugging Face BitNet checkpoint directory into a GGUF file at `out`. */
export async function convertFromHF(dir: string, out: string, options: HFConvertOptions = {}): Promise<ConvertSummary> {
  const started = performance.now();
  const configPath = resolve(dir, "config.json");
  const config = parseHFConfig(readJson(configPath), configPath);
  const tokenizer = convertHFTokenizer(dir, config);
  const ck = openCheckpoint(dir);
  try {
    const { tensors, used } = planTensors(ck, config, options.type ?? "TQ2_0", options.embeddingType ?? "F16");
    const left = ck.names.filter((n) => !used.has(n) && !IGNORED.test(n));
    if (left.length > 0) {
      const shown = left.slice(0, 5).join(", ");
      throw new ConvertError(
        dir,
        `the checkpoint has tensors the BitNet layout does not use (${shown}${left.length > 5 ? `, … ${left.length} in all` : ""})`,
      );
    }
    const name = basename(resolve(dir));
    const bytesOut = await writeAtomically(out, { metadata: [...hfMetadata(config, name), ...tokenizer], tensors });
    return { tensors: tensors.length, bytesIn: ck.bytes, bytesOut, seconds: (performance.now() - started) / 1000 };
  } finally {
    ck.close();
  }
}
