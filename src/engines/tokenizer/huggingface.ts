import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseMerges, RankBpe } from "./bpe.js";
import { fromByteLevel, parseByteToken, utf8 } from "./bytes.js";
import { BaseTokenizer, endOfGenerationIds } from "./core.js";
import { buildNormalizer, buildPreTokenizer, metaspaceScheme } from "./hf-components.js";
import { isObject, type JsonObject, optionalBoolean, requireArray, requireObject } from "./json.js";
import { type SpecialEntry, SpecialSplitter } from "./special.js";
import type { Tokenizer } from "./types.js";

const WHERE = "tokenizer.json";

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** Builds a tokenizer from tokenizer.json (and optionally tokenizer_config.json), both already JSON.parse'd. */
export function tokenizerFromHuggingFace(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
  const json = requireObject(tokenizerJson, WHERE);
  const config = tokenizerConfig === undefined || tokenizerConfig === null ? {} : tokenizerConfig;
  if (!isObject(config)) throw new Error("tokenizer_config.json: expected an object");
  const model = requireObject(json.model, `${WHERE} model`);
  const type = model.type ?? (model.merges !== undefined ? "BPE" : undefined);
  if (type !== "BPE") {
    throw new Error(`${WHERE}: unsupported model type ${JSON.stringify(type)} (only "BPE" is supported)`);
  }
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    if (typeof model[key] === "string" && model[key] !== "") {
      throw new Error(`${WHERE}: BPE ${key} is not supported`);
    }
  }

  const vocab = readVocab(model.vocab);
  const added = readAddedTokens(json.added_tokens);
  // a loop, not Math.max(...ids): spreading a 150k-entry vocabulary overflows the argument limit
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  for (const t of added) size = Math.max(size, t.id + 1);
  const tokens: string[] = new Array(size).fill("");
  for (const [text, id] of vocab) tokens[id] = text;
  for (const t of added) tokens[t.id] = t.content;
  const lookup = (content: string) => added.find((t) => t.content === content)?.id ?? vocab.get(content);

  const unkToken = model.unk_token;
  const bpe = new RankBpe({
    vocab,
    merges: parseMerges(requireArray(model.merges ?? [], `${WHERE} model.merges`)),
    ignoreMerges: model.ignore_merges === true,
    byteFallback: model.byte_fallback === true,
    unkId: typeof unkToken === "string" ? vocab.get(unkToken) : undefined,
    fuseUnk: model.fuse_unk === true,
  });
  const normalize = buildNormalizer(json.normalizer);
  const pre = buildPreTokenizer(json.pre_tokenizer);
  const decoding = decoderStyle(json.decoder, pre.byteLevel);

  const special = new Set(added.filter((t) => t.special).map((t) => t.id));
  const entries: SpecialEntry[] = added.map((t) => ({
    content: t.content,
    id: t.id,
    // non-special added tokens are part of the vocabulary proper, so they are always matched
    always: !t.special,
    lstrip: t.lstrip,
    rstrip: t.rstrip,
  }));

  const bosToken = tokenContent(config.bos_token, "bos_token");
  const eosToken = tokenContent(config.eos_token, "eos_token");
  const configBos = bosToken === undefined ? undefined : lookup(bosToken);
  const eosId = eosToken === undefined ? undefined : lookup(eosToken);
  const template = postProcessorIds(json.post_processor, lookup);
  let prefixIds = template.prefix;
  let suffixIds = template.suffix;
  const bosId = configBos ?? prefixIds[0];
  // an explicit add_bos_token / add_eos_token in the config overrides what the post-processor template does,
  // which is how transformers' Llama-family fast tokenizers rebuild their post-processor on load
  const addBos = optionalBoolean(config, "add_bos_token", "tokenizer_config.json");
  if (addBos === false) prefixIds = prefixIds.filter((id) => id !== bosId);
  if (addBos === true && bosId !== undefined && prefixIds[0] !== bosId) prefixIds = [bosId, ...prefixIds];
  const addEos = optionalBoolean(config, "add_eos_token", "tokenizer_config.json");
  if (addEos === false) suffixIds = suffixIds.filter((id) => id !== eosId);
  if (addEos === true && eosId !== undefined && !suffixIds.includes(eosId)) suffixIds = [...suffixIds, eosId];
  for (const id of [bosId, eosId]) if (id !== undefined) special.add(id);

  return new BaseTokenizer({
    tokens,
    encodeText(text, first) {
      const out: number[] = [];
      for (const piece of pre.run([normalize(text)], first)) {
        if (piece.length > 0) out.push(...bpe.encodeWord(piece));
      }
      return out;
    },
    pieceBytes: (id) => decoding.bytes(tokens[id] ?? ""),
    verbatim: special,
    special,
    splitter: new SpecialSplitter(entries),
    bosId,
    eosIds: [...(eosId === undefined ? [] : [eosId]), ...endOfGenerationIds(tokens, special)],
    prefixIds,
    suffixIds,
    stripLeadingSpace: decoding.stripLeadingSpace,
    chatTemplate: chatTemplateOf(config.chat_template),
    bosToken: bosId === undefined ? undefined : tokens[bosId],
    eosToken: eosId === undefined ? undefined : tokens[eosId],
  });
}

/** Reads tokenizer.json and (when present) tokenizer_config.json / chat_template.jinja from a model directory. */
export async function loadTokenizerDir(dir: string): Promise<Tokenizer> {
  const tokenizerJson = await readJson(join(dir, "tokenizer.json"), true);
  const config = (await readJson(join(dir, "tokenizer_config.json"), false)) ?? {};
  if (!isObject(config)) throw new Error(`${join(dir, "tokenizer_config.json")}: expected an object`);
  // recent transformers releases store the template in its own file instead of tokenizer_config.json
  if (config.chat_template === undefined) {
    const template = await readText(join(dir, "chat_template.jinja"));
    if (template !== undefined) config.chat_template = template;
  }
  return tokenizerFromHuggingFace(tokenizerJson, config);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isObject(err) && err.code === "ENOENT") return undefined;
    throw err;
  }
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  const text = await readText(path);
  if (text === undefined) {
    if (required) throw new Error(`${path}: not found`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

function readVocab(value: unknown): Map<string, number> {
  const obj = requireObject(value, `${WHERE} model.vocab`);
  const vocab = new Map<string, number>();
  for (const [text, id] of Object.entries(obj)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new Error(`${WHERE} model.vocab: id of ${JSON.stringify(text)} must be a non-negative integer`);
    }
    vocab.set(text, id);
  }
  if (vocab.size === 0) throw new Error(`${WHERE} model.vocab: empty vocabulary`);
  return vocab;
}

function readAddedTokens(value: unknown): AddedToken[] {
  if (value === undefined || value === null) return [];
  return requireArray(value, `${WHERE} added_tokens`).map((raw, i) => {
    const where = `${WHERE} added_tokens[${i}]`;
    const t = requireObject(raw, where);
    if (typeof t.id !== "number" || !Number.isInteger(t.id) || t.id < 0) throw new Error(`${where}: bad "id"`);
    if (typeof t.content !== "string") throw new Error(`${where}: "content" must be a string`);
    return {
      id: t.id,
      content: t.content,
      special: t.special === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
    };
  });
}

/** tokenizer_config.json stores special tokens as strings or as serialized AddedToken objects. */
function tokenContent(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (isObject(value) && typeof value.content === "string") return value.content;
  throw new Error(`tokenizer_config.json: "${key}" must be a string or {"content": string}`);
}

function chatTemplateOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.filter(isObject);
    const pick = named.find((t) => t.name === "default") ?? named[0];
    if (pick && typeof pick.template === "string") return pick.template;
  }
  throw new Error('tokenizer_config.json: "chat_template" must be a string or a list of {name, template}');
}

interface TemplateIds {
  prefix: number[];
  suffix: number[];
}

/** Special tokens the post-processor puts around a single sequence. */
function postProcessorIds(spec: unknown, lookup: (content: string) => number | undefined): TemplateIds {
  const where = `${WHERE} post_processor`;
  if (spec === null || spec === undefined) return { prefix: [], suffix: [] };
  const pp = requireObject(spec, where);
  switch (pp.type) {
    case "Sequence": {
      for (const inner of requireArray(pp.processors, `${where}.processors`)) {
        const ids = postProcessorIds(inner, lookup);
        if (ids.prefix.length > 0 || ids.suffix.length > 0) return ids;
      }
      return { prefix: [], suffix: [] };
    }
    case "TemplateProcessing":
      return templateProcessing(pp, lookup, where);
    case "RobertaProcessing":
    case "BertProcessing": {
      const pair = (v: unknown) => (Array.isArray(v) && typeof v[1] === "number" ? [v[1]] : []);
      return { prefix: pair(pp.cls), suffix: pair(pp.sep) };
    }
    default:
      // ByteLevel (offsets only) and unknown processors add no tokens
      return { prefix: [], suffix: [] };
  }
}

function templateProcessing(
  pp: JsonObject,
  lookup: (content: string) => number | undefined,
  where: string,
): TemplateIds {
  const specialTokens = isObject(pp.special_tokens) ? pp.special_tokens : {};
  const out: TemplateIds = { prefix: [], suffix: [] };
  let seenSequence = false;
  for (const item of requireArray(pp.single, `${where}.single`)) {
    if (!isObject(item)) throw new Error(`${where}.single: items must be objects`);
    if (isObject(item.Sequence)) {
      seenSequence = true;
      continue;
    }
    const tokenSpec = item.SpecialToken;
    if (!isObject(tokenSpec) || typeof tokenSpec.id !== "string") {
      throw new Error(`${where}.single: expected {"Sequence": ...} or {"SpecialToken": {"id": ...}}`);
    }
    const name = tokenSpec.id;
    const declared = specialTokens[name];
    let ids: number[] | undefined;
    if (isObject(declared) && Array.isArray(declared.ids)) ids = declared.ids.filter((x) => typeof x === "number");
    else {
      const id = lookup(name);
      if (id !== undefined) ids = [id];
    }
    if (!ids) throw new Error(`${where}: template token ${JSON.stringify(name)} is not in the vocabulary`);
    (seenSequence ? out.suffix : out.prefix).push(...ids);
  }
  return out;
}

interface DecodingStyle {
  bytes(piece: string): Uint8Array;
  stripLeadingSpace: boolean;
}

function decoderTypes(spec: unknown, out: JsonObject[] = []): JsonObject[] {
  if (!isObject(spec)) return out;
  if (spec.type === "Sequence") for (const d of requireArray(spec.decoders, `${WHERE} decoder`)) decoderTypes(d, out);
  else out.push(spec);
  return out;
}

/** Reduces the decoder chain to the two shapes BPE vocabularies use: byte-level, or SentencePiece "▁" text. */
function decoderStyle(spec: unknown, byteLevelPre: boolean): DecodingStyle {
  const steps = decoderTypes(spec);
  const types = steps.map((s) => s.type);
  if (types.includes("ByteLevel") || (steps.length === 0 && byteLevelPre)) {
    return { bytes: fromByteLevel, stripLeadingSpace: false };
  }
  if (steps.length === 0) return { bytes: utf8, stripLeadingSpace: false };
  let replacement: string | undefined;
  let strip = false;
  const byteFallback = types.includes("ByteFallback");
  for (const step of steps) {
    switch (step.type) {
      case "Metaspace":
        replacement = typeof step.replacement === "string" ? step.replacement : "\u2581";
        strip ||= metaspaceScheme(step, `${WHERE} decoder`) !== "never";
        break;
      case "Replace":
        if (isObject(step.pattern) && typeof step.pattern.String === "string" && step.content === " ") {
          replacement = step.pattern.String;
        }
        break;
      case "Strip":
        strip ||= typeof step.start === "number" && step.start > 0 && step.content === " ";
        break;
      case "ByteFallback":
      case "Fuse":
        break;
      default:
        throw new Error(`${WHERE}: unsupported decoder type ${JSON.stringify(step.type)}`);
    }
  }
  return {
    bytes(piece) {
      const byte = byteFallback ? parseByteToken(piece) : undefined;
      if (byte !== undefined) return Uint8Array.of(byte);
      return utf8(replacement === undefined ? piece : piece.replaceAll(replacement, " "));
    },
    stripLeadingSpace: strip,
  };
}
