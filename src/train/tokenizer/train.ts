// Trains a byte-level BPE tokenizer and renders it as Hugging Face tokenizer.json + tokenizer_config.json.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type AddedTokenJson,
  addedTokenJson,
  type BpeModelJson,
  byteLevelBpeModel,
} from "../../engines/tokenizer/hf-json.js";
import { learnBpe } from "./bpe.js";
import { countWords } from "./pretokenize.js";

/** Special tokens of the nano models, appended after the merged tokens in this order. */
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = [
  "<|bos|>",
  "<|eos|>",
  "<|pad|>",
  "<|system|>",
  "<|user|>",
  "<|assistant|>",
  "<|end|>",
];

/**
 * The nano models are base models: they were trained on plain prose (documents ended by EOS) and never
 * saw chat markers, so a conversation is laid out as plain paragraphs — each message's content followed
 * by a blank line — which the model continues as the next paragraph, ending with EOS like a document.
 * Roles other than system/user/assistant are rejected. The chat markers stay in the vocabulary for a
 * future instruction-tuned variant.
 */
export const NANO_CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if message['role'] not in ['system', 'user', 'assistant'] %}" +
  "{{ raise_exception('nano chat template: unsupported role ' + message['role']) }}{% endif %}" +
  "{{ message['content'] + '\\n\\n' }}" +
  "{% endfor %}";

export interface TrainTokenizerOptions {
  /** Total vocabulary size: 256 bytes + merged tokens + special tokens. */
  vocabSize: number;
  specialTokens?: readonly string[];
  /** Pairs seen fewer times are never merged (training may then stop below vocabSize). Default 2. */
  minFrequency?: number;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  /** Default 1024. */
  modelMaxLength?: number;
  /** Default NANO_CHAT_TEMPLATE. */
  chatTemplate?: string;
}

export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: {
    type: "TemplateProcessing";
    single: unknown[];
    pair: unknown[];
    special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }>;
  };
  decoder: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: BpeModelJson;
}

export interface TokenizerConfigJson {
  add_bos_token: boolean;
  add_eos_token: boolean;
  added_tokens_decoder: Record<string, Omit<AddedTokenJson, "id">>;
  bos_token: string;
  eos_token: string;
  pad_token: string;
  unk_token: null;
  clean_up_tokenization_spaces: boolean;
  model_max_length: number;
  tokenizer_class: string;
  chat_template: string;
}

export interface TrainStats {
  texts: number;
  bytes: number;
  preTokens: number;
  uniqueWords: number;
  merges: number;
  /** Merged tokens (fewer than merges when two merges spell the same string). */
  mergedTokens: number;
  vocabSize: number;
  /** Occurrences of the last merged pair. */
  lastMergeCount: number;
  countSeconds: number;
  mergeSeconds: number;
}

export interface TrainedTokenizer {
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfigJson;
  stats: TrainStats;
}

export function trainTokenizer(texts: Iterable<string>, options: TrainTokenizerOptions): TrainedTokenizer {
  const specials = [...(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  if (new Set(specials).size !== specials.length) throw new Error("trainTokenizer: duplicate special tokens");
  const bosToken = options.bosToken ?? "<|bos|>";
  const eosToken = options.eosToken ?? "<|eos|>";
  const padToken = options.padToken ?? "<|pad|>";
  for (const t of [bosToken, eosToken, padToken]) {
    if (!specials.includes(t)) throw new Error(`trainTokenizer: ${t} is not among the special tokens`);
  }
  const chatTemplate = options.chatTemplate ?? NANO_CHAT_TEMPLATE;
  const maxTokens = options.vocabSize - specials.length;
  if (!Number.isInteger(options.vocabSize) || maxTokens < 256) {
    throw new Error(`trainTokenizer: vocabSize must be an integer ≥ 256 + ${specials.length} special tokens`);
  }

  let bytes = 0;
  let count = 0;
  const t0 = performance.now();
  const words = countWords(
    (function* () {
      for (const t of texts) {
        count++;
        bytes += Buffer.byteLength(t, "utf8");
        yield t;
      }
    })(),
  );
  const t1 = performance.now();
  const learned = learnBpe(words.counts, { maxTokens, minFrequency: options.minFrequency });
  const t2 = performance.now();

  const vocab: Record<string, number> = {};
  learned.tokens.forEach((t, id) => {
    vocab[t] = id;
  });
  const added: AddedTokenJson[] = specials.map((content, i) =>
    addedTokenJson(learned.tokens.length + i, content, true),
  );
  // special tokens are also in the model vocabulary, as in Hugging Face-trained BPE tokenizers
  for (const t of added) vocab[t.content] = t.id;
  const bosId = added.find((t) => t.content === bosToken)?.id ?? 0;
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };

  const tokenizerJson: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bosToken, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: bosToken, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [bosToken]: { id: bosToken, ids: [bosId], tokens: [bosToken] } },
    },
    decoder: { type: "ByteLevel", ...byteLevel },
    model: byteLevelBpeModel(
      vocab,
      learned.merges.map(([x, y]) => `${x} ${y}`),
    ),
  };

  const addedTokensDecoder: Record<string, Omit<AddedTokenJson, "id">> = {};
  for (const { id, ...rest } of added) addedTokensDecoder[String(id)] = rest;
  const tokenizerConfig: TokenizerConfigJson = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: bosToken,
    eos_token: eosToken,
    pad_token: padToken,
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: options.modelMaxLength ?? 1024,
    tokenizer_class: "PreTrainedTokenizerFast",
    chat_template: chatTemplate,
  };

  return {
    tokenizerJson,
    tokenizerConfig,
    stats: {
      texts: count,
      bytes,
      preTokens: words.total,
      uniqueWords: words.counts.size,
      merges: learned.merges.length,
      mergedTokens: learned.tokens.length - 256,
      vocabSize: learned.tokens.length + added.length,
      lastMergeCount: learned.mergeCounts[learned.mergeCounts.length - 1] ?? 0,
      countSeconds: (t1 - t0) / 1000,
      mergeSeconds: (t2 - t1) / 1000,
    },
  };
}

/**
 * tokenizer.json text: two-space indented JSON like Hugging Face writes it, except that the vocabulary is listed
 * in id order (a plain object would put integer-like keys such as "0" first) and each merge takes one line.
 * The same tokenizer always gives the same bytes.
 */
export function stringifyTokenizerJson(json: TokenizerJson): string {
  const VOCAB = "\u0000vocab\u0000";
  const MERGES = "\u0000merges\u0000";
  const skeleton = JSON.stringify({ ...json, model: { ...json.model, vocab: VOCAB, merges: MERGES } }, null, 2);
  const entries = Object.entries(json.model.vocab).sort((x, y) => x[1] - y[1]);
  const vocab = `{\n${entries.map(([t, id]) => `      ${JSON.stringify(t)}: ${id}`).join(",\n")}\n    }`;
  const merges = `[\n${json.model.merges.map((m) => `      ${JSON.stringify(m)}`).join(",\n")}\n    ]`;
  return `${skeleton.replace(JSON.stringify(VOCAB), () => vocab).replace(JSON.stringify(MERGES), () => merges)}\n`;
}

export function stringifyTokenizerConfig(config: TokenizerConfigJson): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Writes tokenizer.json and tokenizer_config.json into dir (created if needed). */
export async function saveTokenizer(dir: string, trained: Omit<TrainedTokenizer, "stats">): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "tokenizer.json"), stringifyTokenizerJson(trained.tokenizerJson));
  await writeFile(join(dir, "tokenizer_config.json"), stringifyTokenizerConfig(trained.tokenizerConfig));
}
