/**
 * Test and benchmark helpers: a vocabulary of given byte strings behind the Tokenizer interface, a
 * synthetic large vocabulary, and a small JSON Schema validator for the subset schema.ts compiles,
 * written from the JSON Schema rules rather than from the compiler, so tests can check one with the other.
 */
import type { Tokenizer } from "../tokenizer/index.js";

/** A tokenizer whose token `id` is `pieces[id]`; `special` ids write no text, `eos` ends generation. */
export function byteTokenizer(
  pieces: readonly Uint8Array[],
  options: { eos?: readonly number[]; special?: readonly number[] } = {},
): Tokenizer {
  const special = new Set(options.special ?? []);
  const eosIds = options.eos ?? [];
  for (const id of eosIds) special.add(id);
  const decoder = new TextDecoder();
  return {
    vocabSize: pieces.length,
    bosId: undefined,
    eosIds,
    addBos: false,
    encode: () => {
      throw new Error("byteTokenizer does not encode");
    },
    decode: (ids) => decoder.decode(concat(ids.filter((id) => !special.has(id)).map((id) => pieces[id]!))),
    tokenText: (id) => decoder.decode(pieces[id] ?? new Uint8Array(0)),
    tokenBytes: (id) => pieces[id] ?? new Uint8Array(0),
    isSpecial: (id) => special.has(id),
    applyChatTemplate: () => {
      throw new Error("byteTokenizer has no chat template");
    },
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * `size` tokens shaped like a large byte-level BPE vocabulary: the 256 single bytes, then words and
 * word pieces (with and without a leading space), digit runs, punctuation clusters and multi-byte
 * characters, from a seeded generator so every run measures the same vocabulary.
 */
export function syntheticVocabulary(size: number, seed = 1): Uint8Array[] {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const pick = (s: string) => s[Math.floor(next() * s.length)]!;
  const encoder = new TextEncoder();
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) {
    out.push(Uint8Array.of(b));
    seen.add(String(b));
  }
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const punct = "{}[]\":,.-!?()\\/'";
  const wide = "éèàüößçñ日本語中文한국어бжщ€";
  while (out.length < size) {
    const r = next();
    let text: string;
    if (r < 0.7) {
      const len = 1 + Math.floor(next() * 9);
      text = (next() < 0.5 ? " " : "") + Array.from({ length: len }, () => pick(letters)).join("");
    } else if (r < 0.8) text = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick("0123456789")).join("");
    else if (r < 0.9)
      text = (next() < 0.3 ? " " : "") + Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(punct)).join("");
    else text = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(wide)).join("");
    if (seen.has(text)) continue;
    seen.add(text);
    out.push(encoder.encode(text));
  }
  return out;
}

type Json = Readonly<Record<string, unknown>>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Problems of `value` against `schema` (empty when it validates); `root` resolves $ref. */
export function validateJson(schema: unknown, value: unknown, path = "$", root: unknown = schema): string[] {
  if (schema === true) return [];
  if (!isObject(schema)) return [`${path}: bad schema`];
  if (typeof schema.$ref === "string") {
    const [, group, name] = schema.$ref.split("/");
    const target = isObject(root) && group && name ? (root[group] as Json | undefined)?.[name] : undefined;
    return target === undefined ? [`${path}: unresolved ${schema.$ref}`] : validateJson(target, value, path, root);
  }
  const problems: string[] = [];
  if (Array.isArray(schema.anyOf)) {
    if (!schema.anyOf.some((s) => validateJson(s, value, path, root).length === 0))
      problems.push(`${path}: no anyOf branch`);
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    problems.push(`${path}: not the const`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    problems.push(`${path}: not in enum`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.some((want) => want === t || (want === "number" && t === "integer"))) {
      problems.push(`${path}: ${t} is not ${types.join("|")}`);
    }
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (typeof schema.minLength === "number" && length < schema.minLength) problems.push(`${path}: too short`);
    if (typeof schema.maxLength === "number" && length > schema.maxLength) problems.push(`${path}: too long`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) problems.push(`${path}: too few items`);
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems) problems.push(`${path}: too many items`);
    if (schema.items !== undefined) {
      value.forEach((item, i) => {
        problems.push(...validateJson(schema.items, item, `${path}[${i}]`, root));
      });
    }
  }
  if (isObject(value)) {
    const props = isObject(schema.properties) ? schema.properties : {};
    for (const name of Array.isArray(schema.required) ? schema.required : []) {
      if (!Object.hasOwn(value, name as string)) problems.push(`${path}: missing ${String(name)}`);
    }
    for (const [key, v] of Object.entries(value)) {
      if (Object.hasOwn(props, key)) problems.push(...validateJson(props[key], v, `${path}.${key}`, root));
      else if (schema.additionalProperties === false) problems.push(`${path}: unexpected ${key}`);
      else if (isObject(schema.additionalProperties)) {
        problems.push(...validateJson(schema.additionalProperties, v, `${path}.${key}`, root));
      }
    }
  }
  return problems;
}
