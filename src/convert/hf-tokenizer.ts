/**
 * tokenizer.json + tokenizer_config.json → GGUF tokenizer metadata for a byte-level BPE
 * vocabulary (GPT-2 / Llama-3 style): tokenizer.ggml.model "gpt2", tokens in id order,
 * token types, merges as "a b", special token ids and the chat template.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { GGUFValue } from "../formats/gguf/index.js";
import { ConvertError } from "./errors.js";
import type { HFBitNetConfig } from "./hf-config.js";
import { readJson } from "./hf-config.js";

/** llama.cpp's token types. */
const NORMAL = 1;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The pre-tokenizer's split regexes, wherever they sit in a Sequence. */
function splitPatterns(pre: unknown): string[] {
  if (!isObject(pre)) return [];
  if (pre.type === "Sequence" && Array.isArray(pre.pretokenizers)) return pre.pretokenizers.flatMap(splitPatterns);
  if (pre.type === "Split" && isObject(pre.pattern) && typeof pre.pattern.Regex === "string")
    return [pre.pattern.Regex];
  return [];
}

/** llama.cpp's tokenizer.ggml.pre name for the pre-tokenizer (patterns our tokenizer knows). */
export function preTokenizerName(pre: unknown): string {
  for (const pattern of splitPatterns(pre)) {
    if (!pattern.includes("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) continue;
    if (pattern.includes("\\p{N}{1,3}")) return "llama-bpe";
    if (pattern.includes("|\\p{N}|")) return "qwen2";
  }
  return "default";
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

function chatTemplates(v: unknown): Array<[string, GGUFValue]> {
  if (typeof v === "string") return [["tokenizer.chat_template", { type: "string", value: v }]];
  if (!Array.isArray(v)) return [];
  const out: Array<[string, GGUFValue]> = [];
  for (const entry of v) {
    if (!isObject(entry) || typeof entry.name !== "string" || typeof entry.template !== "string") continue;
    const key = entry.name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${entry.name}`;
    out.push([key, { type: "string", value: entry.template }]);
  }
  if (!out.some(([k]) => k === "tokenizer.chat_template") && out[0] !== undefined) {
    out.unshift(["tokenizer.chat_template", out[0][1]]);
  }
  return out;
}

/** Whether tokenizer.json's post-processor puts a token before every single sequence. */
function postProcessorAddsBos(post: unknown): boolean | undefined {
  if (!isObject(post)) return undefined;
  if (post.type === "Sequence" && Array.isArray(post.processors)) {
    for (const p of post.processors) {
      const r = postProcessorAddsBos(p);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (post.type !== "TemplateProcessing" || !Array.isArray(post.single)) return undefined;
  const first: unknown = post.single[0];
  return isObject(first) && isObject(first.SpecialToken);
}

export function convertHFTokenizer(dir: string, config: HFBitNetConfig): Array<[string, GGUFValue]> {
  const tokenizerPath = join(dir, "tokenizer.json");
  const json = readJson(tokenizerPath);
  const fail = (problem: string): never => {
    throw new ConvertError(tokenizerPath, problem);
  };
  if (!isObject(json) || !isObject(json.model)) return fail("has no model section");
  const model = json.model;
  if (model.type !== undefined && model.type !== "BPE") {
    fail(`tokenizer model ${JSON.stringify(model.type)} is not supported (byte-level BPE only)`);
  }
  if (model.byte_fallback === true) {
    fail("is a SentencePiece-style BPE (byte_fallback); tritgate converts byte-level BPE vocabularies only");
  }
  if (!isObject(model.vocab)) return fail("model.vocab is missing");

  const byId = new Map<number, string>();
  const put = (text: string, id: unknown, where: string) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0)
      fail(`${where} has a bad id for ${JSON.stringify(text)}`);
    const existing = byId.get(id as number);
    if (existing !== undefined && existing !== text) {
      fail(`${where}: id ${id} is both ${JSON.stringify(existing)} and ${JSON.stringify(text)}`);
    }
    byId.set(id as number, text);
  };
  for (const [text, id] of Object.entries(model.vocab)) put(text, id, "model.vocab");
  const special = new Set<number>();
  const added = new Set<number>();
  const addedTokens = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  for (const t of addedTokens) {
    if (!isObject(t) || typeof t.content !== "string") continue;
    put(t.content, t.id, "added_tokens");
    added.add(t.id as number);
    if (t.special === true) special.add(t.id as number);
  }

  const configPath = join(dir, "tokenizer_config.json");
  const tokConfig = existsSync(configPath) ? readJson(configPath) : {};
  const tc: Json = isObject(tokConfig) ? tokConfig : {};
  if (isObject(tc.added_tokens_decoder)) {
    for (const [id, t] of Object.entries(tc.added_tokens_decoder)) {
      if (!isObject(t) || typeof t.content !== "string") continue;
      put(t.content, Number(id), `${configPath} added_tokens_decoder`);
      added.add(Number(id));
      if (t.special === true) special.add(Number(id));
    }
  }

  let maxId = -1;
  for (const id of byId.keys()) maxId = Math.max(maxId, id);
  if (maxId >= config.vocabSize) {
    fail(`token id ${maxId} does not fit config.json's vocab_size ${config.vocabSize}`);
  }
  const tokens: string[] = [];
  const types: number[] = [];
  const idOf = new Map<string, number>();
  for (let id = 0; id < config.vocabSize; id++) {
    const text = byId.get(id);
    if (text === undefined) {
      tokens.push(`[PAD${id}]`);
      types.push(UNUSED);
      continue;
    }
    tokens.push(text);
    types.push(special.has(id) ? CONTROL : added.has(id) ? USER_DEFINED : NORMAL);
    if (!idOf.has(text)) idOf.set(text, id);
  }

  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  const merges = rawMerges.map((m, i): string => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      return `${m[0]} ${m[1]}`;
    }
    return fail(`model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });

  const idFor = (v: unknown): number | undefined => {
    const text = tokenContent(v);
    return text === undefined ? undefined : idOf.get(text);
  };
  const u32 = (value: number): GGUFValue => ({ type: "u32", value });
  const out: Array<[string, GGUFValue]> = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: preTokenizerName(json.pre_tokenizer) }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
  ];
  const bos = idFor(tc.bos_token) ?? config.bosId;
  const eos = idFor(tc.eos_token) ?? config.eosId;
  const pad = idFor(tc.pad_token) ?? config.padId;
  const unk = idFor(tc.unk_token) ?? (typeof model.unk_token === "string" ? idOf.get(model.unk_token) : undefined);
  if (bos !== undefined) out.push(["tokenizer.ggml.bos_token_id", u32(bos)]);
  if (eos !== undefined) out.push(["tokenizer.ggml.eos_token_id", u32(eos)]);
  if (pad !== undefined) out.push(["tokenizer.ggml.padding_token_id", u32(pad)]);
  if (unk !== undefined) out.push(["tokenizer.ggml.unknown_token_id", u32(unk)]);
  const addBos = typeof tc.add_bos_token === "boolean" ? tc.add_bos_token : postProcessorAddsBos(json.post_processor);
  if (addBos !== undefined) out.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: addBos }]);
  if (typeof tc.add_eos_token === "boolean") {
    out.push(["tokenizer.ggml.add_eos_token", { type: "bool", value: tc.add_eos_token }]);
  }
  out.push(...chatTemplates(tc.chat_template));
  return out;
}
