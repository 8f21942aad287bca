/**
 * Synthetic BitNet models: real architecture and shapes, seeded random weights. Tests use tiny
 * ones; `npm run bench:e2e` writes the 2B-4T and ~700M shapes on demand (kept out of git).
 * Linear weights are ternarized the BitNet way (absmean per tensor) before packing.
 */
import { isTernary, quantize, type WeightType } from "../../../kernels/index.js";
import { type GGUFSpec, type GGUFTensorInput, type GGUFValue, withFileType } from "../../formats/gguf/index.js";
import { randomFloats, seededRandom } from "../../util/seeded-random.js";
import { byteToChar } from "../tokenizer/bytes.js";

export interface SyntheticBitNetSpec {
  readonly layers: number;
  readonly embedding: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  /** at least 260: 256 byte tokens, then bos, eos and chat markers */
  readonly vocab: number;
  readonly contextLength: number;
  readonly linearType: WeightType;
  readonly embeddingType?: WeightType;
  readonly activation?: "relu2" | "silu";
  readonly architecture?: string;
  readonly separateOutput?: boolean;
  /** write a `.scale` tensor beside each linear weight, as some converters do */
  readonly scaleTensors?: boolean;
  readonly ropeBase?: number;
  readonly seed: number;
}

/**
 * The end-of-sequence token is spelled `<|endoftext|>` because llama.cpp decides which tokens end
 * generation by their text: an EOS it does not recognize loads with a warning that the
 * tokenizer config may be incorrect (the eos/eot ids in the metadata do not change that).
 */
export const SPECIAL_TOKENS = ["<|bos|>", "<|endoftext|>", "<|user|>", "<|assistant|>"] as const;
const CHAT_TEMPLATE =
  "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|endoftext|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

function vocabulary(size: number): { tokens: string[]; types: number[] } {
  const tokens = [...Array.from({ length: 256 }, (_, b) => byteToChar(b)), ...SPECIAL_TOKENS];
  const types: number[] = tokens.map((_, i) => (i < 256 ? 1 : 3));
  for (let id = tokens.length; id < size; id++) {
    tokens.push(`<|unused_${id}|>`);
    types.push(5); // llama.cpp's "unused"
  }
  return { tokens, types };
}

export function syntheticBitNet(spec: SyntheticBitNetSpec): GGUFSpec {
  if (spec.vocab < 256 + SPECIAL_TOKENS.length)
    throw new Error(`vocab must be at least ${256 + SPECIAL_TOKENS.length}`);
  const arch = spec.architecture ?? "bitnet";
  const headDim = spec.embedding / spec.heads;
  const { tokens, types } = vocabulary(spec.vocab);
  const u32 = (value: number): GGUFValue => ({ type: "u32", value });
  const f32 = (value: number): GGUFValue => ({ type: "f32", value });
  const metadata: Array<[string, GGUFValue]> = [
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: `synthetic-${arch}-${spec.embedding}x${spec.layers}` }],
    [`${arch}.context_length`, u32(spec.contextLength)],
    [`${arch}.embedding_length`, u32(spec.embedding)],
    [`${arch}.block_count`, u32(spec.layers)],
    [`${arch}.feed_forward_length`, u32(spec.feedForward)],
    [`${arch}.attention.head_count`, u32(spec.heads)],
    [`${arch}.attention.head_count_kv`, u32(spec.kvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(1e-5)],
    [`${arch}.rope.freq_base`, f32(spec.ropeBase ?? 10000)],
    [`${arch}.rope.dimension_count`, u32(headDim)],
    [`${arch}.vocab_size`, u32(spec.vocab)],
    [`${arch}.hidden_activation`, { type: "string", value: spec.activation ?? "relu2" }],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: [] }],
    ["tokenizer.ggml.bos_token_id", u32(256)],
    ["tokenizer.ggml.eos_token_id", u32(257)],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.chat_template", { type: "string", value: CHAT_TEMPLATE }],
  ];

  // each tensor draws from its own stream, so tensors can be produced lazily in any order
  let stream = spec.seed * 1000;
  const random = () => seededRandom(++stream);
  const tensors: GGUFTensorInput[] = [];
  const norm = (name: string, length: number) => {
    const r = random();
    const values = Float32Array.from({ length }, () => 1 + (r() - 0.5) * 0.1);
    tensors.push({ name, type: "F32", dims: [length], data: new Uint8Array(values.buffer) });
  };
  const matrix = (name: string, type: WeightType, rows: number, cols: number, absmean: boolean) => {
    const r = random();
    const data = () => quantize(type, randomFloats(rows * cols, r, 0.05), rows, cols, { absmean }).data;
    tensors.push({ name, type, dims: [cols, rows], data });
  };
  const linear = (name: string, rows: number, cols: number) => {
    // BitNet ternarizes (absmean) what it packs as ternary; float linear types keep the values
    matrix(`${name}.weight`, spec.linearType, rows, cols, isTernary(spec.linearType));
    if (spec.scaleTensors) {
      const scale = new Float32Array([0.5 + random()()]);
      tensors.push({ name: `${name}.scale`, type: "F32", dims: [1], data: new Uint8Array(scale.buffer) });
    }
  };

  const embeddingType = spec.embeddingType ?? "F16";
  matrix("token_embd.weight", embeddingType, spec.vocab, spec.embedding, false);
  norm("output_norm.weight", spec.embedding);
  if (spec.separateOutput) matrix("output.weight", embeddingType, spec.vocab, spec.embedding, false);
  const qDim = spec.heads * headDim;
  const kvDim = spec.kvHeads * headDim;
  for (let i = 0; i < spec.layers; i++) {
    const p = `blk.${i}`;
    norm(`${p}.attn_norm.weight`, spec.embedding);
    linear(`${p}.attn_q`, qDim, spec.embedding);
    linear(`${p}.attn_k`, kvDim, spec.embedding);
    linear(`${p}.attn_v`, kvDim, spec.embedding);
    linear(`${p}.attn_output`, spec.embedding, qDim);
    norm(`${p}.attn_sub_norm.weight`, qDim);
    norm(`${p}.ffn_norm.weight`, spec.embedding);
    linear(`${p}.ffn_gate`, spec.feedForward, spec.embedding);
    linear(`${p}.ffn_up`, spec.feedForward, spec.embedding);
    linear(`${p}.ffn_down`, spec.embedding, spec.feedForward);
    norm(`${p}.ffn_sub_norm.weight`, spec.feedForward);
  }
  return withFileType({ metadata, tensors });
}
