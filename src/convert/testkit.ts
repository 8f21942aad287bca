/**
 * Tiny Hugging Face BitNet checkpoints for tests: config.json, bf16 (or f16/f32) safetensors,
 * optionally sharded with an index, and a byte-level BPE tokenizer.json with a few merges.
 * Returns the weights exactly as stored (decoded to float64) so tests can run their own forward.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TINY_SPECIAL, writeTinyTokenizer } from "../engines/tokenizer/testkit.js";
import { floatToBF16, type SafetensorsTensorInput, toFloat32, writeSafetensors } from "../formats/safetensors/index.js";
import { numberToHalfBits } from "../util/half.js";
import { randomFloats, seededRandom } from "../util/seeded-random.js";

export interface TinyCheckpointSpec {
  readonly architecture?: "BitNetForCausalLM" | "BitnetForCausalLM" | string;
  readonly hidden?: number;
  readonly intermediate?: number;
  readonly heads?: number;
  readonly kvHeads?: number;
  readonly layers?: number;
  readonly vocab?: number;
  readonly activation?: "relu2" | "silu";
  readonly tied?: boolean;
  /** number of safetensors shards (1 writes model.safetensors without an index) */
  readonly shards?: number;
  readonly dtype?: "BF16" | "F16" | "F32";
  /** 1bitLLM's sub-norm names (inner_attn_ln / ffn_layernorm) instead of 2B-4T's */
  readonly oldSubNormNames?: boolean;
  /** merges stored as ["a", "b"] pairs instead of "a b" strings */
  readonly pairMerges?: boolean;
  readonly ropeTheta?: number;
  readonly seed?: number;
}

export interface TinyCheckpoint {
  readonly dir: string;
  readonly config: Record<string, unknown>;
  /** HF tensor name → values as stored, row-major */
  readonly weights: Map<string, Float64Array>;
  readonly shapes: Map<string, readonly number[]>;
}

function encode(dtype: "BF16" | "F16" | "F32", values: Float32Array): Uint8Array {
  if (dtype === "BF16") {
    const bits = floatToBF16(values);
    return new Uint8Array(bits.buffer);
  }
  if (dtype === "F32") return new Uint8Array(values.buffer.slice(0));
  const view = new DataView(new ArrayBuffer(values.length * 2));
  values.forEach((v, i) => {
    view.setUint16(2 * i, numberToHalfBits(v), true);
  });
  return new Uint8Array(view.buffer);
}

export function writeTinyCheckpoint(dir: string, spec: TinyCheckpointSpec = {}): TinyCheckpoint {
  mkdirSync(dir, { recursive: true });
  const hidden = spec.hidden ?? 256;
  const intermediate = spec.intermediate ?? 512;
  const heads = spec.heads ?? 4;
  const kvHeads = spec.kvHeads ?? 2;
  const layers = spec.layers ?? 2;
  const vocab = spec.vocab ?? 300;
  const headDim = hidden / heads;
  const tied = spec.tied ?? true;
  const dtype = spec.dtype ?? "BF16";
  const config: Record<string, unknown> = {
    architectures: [spec.architecture ?? "BitNetForCausalLM"],
    model_type: "bitnet",
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    num_hidden_layers: layers,
    rms_norm_eps: 1e-5,
    rope_theta: spec.ropeTheta ?? 10000,
    max_position_embeddings: 64,
    vocab_size: vocab,
    hidden_act: spec.activation ?? "relu2",
    tie_word_embeddings: tied,
    bos_token_id: TINY_SPECIAL.bos,
    eos_token_id: TINY_SPECIAL.eos,
    torch_dtype: "bfloat16",
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeTinyTokenizer(dir, { vocab, pairMerges: spec.pairMerges });

  let stream = (spec.seed ?? 1) * 1000;
  const tensors: SafetensorsTensorInput[] = [];
  const weights = new Map<string, Float64Array>();
  const shapes = new Map<string, readonly number[]>();
  const add = (name: string, shape: number[], values: Float32Array) => {
    const data = encode(dtype, values);
    tensors.push({ name, dtype, shape, data });
    weights.set(name, Float64Array.from(toFloat32(dtype, data)));
    shapes.set(name, shape);
  };
  const matrix = (name: string, rows: number, cols: number, scale: number) =>
    add(name, [rows, cols], randomFloats(rows * cols, seededRandom(++stream), scale));
  const norm = (name: string, length: number) => {
    const r = seededRandom(++stream);
    add(
      name,
      [length],
      Float32Array.from({ length }, () => 1 + (r() - 0.5) * 0.2),
    );
  };
  const qDim = heads * headDim;
  const kvDim = kvHeads * headDim;
  const attnSub = spec.oldSubNormNames ? "self_attn.inner_attn_ln" : "self_attn.attn_sub_norm";
  const ffnSub = spec.oldSubNormNames ? "mlp.ffn_layernorm" : "mlp.ffn_sub_norm";
  matrix("model.embed_tokens.weight", vocab, hidden, 1);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`, hidden);
    matrix(`${p}.self_attn.q_proj.weight`, qDim, hidden, 0.1);
    matrix(`${p}.self_attn.k_proj.weight`, kvDim, hidden, 0.1);
    matrix(`${p}.self_attn.v_proj.weight`, kvDim, hidden, 0.1);
    matrix(`${p}.self_attn.o_proj.weight`, hidden, qDim, 0.1);
    norm(`${p}.${attnSub}.weight`, qDim);
    norm(`${p}.post_attention_layernorm.weight`, hidden);
    matrix(`${p}.mlp.gate_proj.weight`, intermediate, hidden, 0.1);
    matrix(`${p}.mlp.up_proj.weight`, intermediate, hidden, 0.1);
    matrix(`${p}.mlp.down_proj.weight`, hidden, intermediate, 0.1);
    norm(`${p}.${ffnSub}.weight`, intermediate);
  }
  norm("model.norm.weight", hidden);
  if (!tied) matrix("lm_head.weight", vocab, hidden, 0.5);

  const shards = spec.shards ?? 1;
  if (shards === 1) {
    writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      for (const t of part) weightMap[t.name] = file;
      writeSafetensors(join(dir, file), part, { format: "pt" });
    }
    const index = {
      metadata: { total_size: tensors.reduce((n, t) => n + t.data.byteLength, 0) },
      weight_map: weightMap,
    };
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify(index, null, 2));
  }
  return { dir, config, weights, shapes };
}
