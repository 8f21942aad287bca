/**
 * The reverse of hf-tokenizer.ts: a GGUF's embedded byte-level BPE vocabulary written as the
 * Hugging Face files an ONNX decoder directory carries (tokenizer.json, tokenizer_config.json,
 * config.json), so an exported ONNX twin tokenizes exactly as its GGUF sibling.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBitNetConfig } from "../engines/bitnet/config.js";
import { ggufVocab } from "../engines/bitnet/engine.js";
import { addedTokenJson, byteLevelBpeModel } from "../engines/tokenizer/hf-json.js";
import { patternForGGUFPre } from "../engines/tokenizer/pretokenize.js";
import type { GGUFFile } from "../formats/gguf/index.js";
import { ConvertError } from "./errors.js";

const CONTROL = 3;
const USER_DEFINED = 4;

export interface HFTokenizerFiles {
  readonly tokenizer: unknown;
  readonly tokenizerConfig: unknown;
  readonly config: unknown;
}

export function huggingFaceTokenizerFiles(file: GGUFFile): HFTokenizerFiles {
  const vocab = ggufVocab(file);
  if (vocab.model !== "gpt2") {
    throw new ConvertError(
      file.path,
      `its "${vocab.model}" vocabulary cannot be written as tokenizer.json yet (gpt2 can)`,
    );
  }
  const types = vocab.tokenTypes ?? [];
  const special = (id: number) => types[id] === CONTROL || types[id] === USER_DEFINED;
  const name = (id: number | undefined) => (id === undefined ? null : (vocab.tokens[id] ?? null));
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: vocab.tokens.flatMap((content, id) =>
      special(id) ? [addedTokenJson(id, content, types[id] === CONTROL)] : [],
    ),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: patternForGGUFPre(vocab.pre) }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: byteLevelBpeModel(Object.fromEntries(vocab.tokens.map((t, id) => [t, id])), vocab.merges ?? []),
  };
  const config = readBitNetConfig(file);
  const tokenizerConfig = {
    bos_token: name(vocab.bosId),
    eos_token: name(vocab.eotId ?? vocab.eosId),
    add_bos_token: vocab.addBos ?? false,
    add_eos_token: vocab.addEos ?? false,
    model_max_length: config.contextLength,
    ...(vocab.chatTemplate === undefined ? {} : { chat_template: vocab.chatTemplate }),
  };
  const modelConfig = {
    model_type: "bitnet",
    architectures: ["BitNetForCausalLM"],
    max_position_embeddings: config.contextLength,
    vocab_size: config.vocabSize,
    hidden_size: config.embedding,
    num_hidden_layers: config.layers,
    num_attention_heads: config.heads,
    num_key_value_heads: config.kvHeads,
    bos_token_id: vocab.bosId ?? null,
    eos_token_id: vocab.eosId ?? null,
  };
  return { tokenizer, tokenizerConfig, config: modelConfig };
}

export async function writeHuggingFaceTokenizerFiles(file: GGUFFile, dir: string): Promise<void> {
  const files = huggingFaceTokenizerFiles(file);
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(files.tokenizer));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(files.tokenizerConfig, null, 2));
  await writeFile(join(dir, "config.json"), JSON.stringify(files.config, null, 2));
}
