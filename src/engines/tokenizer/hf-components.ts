import { toByteLevel } from "./bytes.js";
import { isObject, type JsonObject, optionalBoolean, optionalString, requireArray } from "./json.js";
import { compilePattern, GPT2_PATTERN } from "./pretokenize.js";

// Builders for the tokenizer.json pipeline stages that BPE models use. Each throws naming the unsupported
// component instead of silently tokenizing differently from the reference implementation.

export type Normalize = (text: string) => string;
/** `first` is true only for the piece that starts the input (Metaspace prepend_scheme "first"). */
export type PreTokenize = (pieces: string[], first: boolean) => string[];

function typeOf(spec: JsonObject, where: string): string {
  const type = spec.type;
  if (typeof type !== "string") throw new Error(`${where}: missing "type"`);
  return type;
}

function patternOf(spec: JsonObject, where: string): RegExp {
  const pattern = spec.pattern;
  if (isObject(pattern)) {
    if (typeof pattern.Regex === "string") return compilePattern(pattern.Regex);
    if (typeof pattern.String === "string") {
      return new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"), "gu");
    }
  }
  throw new Error(`${where}: "pattern" must be {"String": ...} or {"Regex": ...}`);
}

export function buildNormalizer(spec: unknown, where = "tokenizer.json normalizer"): Normalize {
  if (spec === null || spec === undefined) return (s) => s;
  if (!isObject(spec)) throw new Error(`${where}: expected an object or null`);
  const type = typeOf(spec, where);
  switch (type) {
    case "Sequence": {
      const steps = requireArray(spec.normalizers, `${where}.normalizers`).map((n, i) =>
        buildNormalizer(n, `${where}.normalizers[${i}]`),
      );
      return (s) => steps.reduce((acc, step) => step(acc), s);
    }
    case "Prepend": {
      const prefix = optionalString(spec, "prepend", where) ?? "";
      return (s) => (s.length > 0 ? prefix + s : s);
    }
    case "Replace": {
      const regex = patternOf(spec, where);
      const content = optionalString(spec, "content", where) ?? "";
      return (s) => s.replace(regex, () => content);
    }
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (s) => s.normalize(type);
    case "Lowercase":
      return (s) => s.toLowerCase();
    case "Strip": {
      const left = optionalBoolean(spec, "strip_left", where) ?? true;
      const right = optionalBoolean(spec, "strip_right", where) ?? true;
      return (s) => {
        const t = left ? s.trimStart() : s;
        return right ? t.trimEnd() : t;
      };
    }
    default:
      throw new Error(`${where}: unsupported normalizer type "${type}"`);
  }
}

type Behavior = "Isolated" | "Removed" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";

/** HF Split semantics: how regex matches (delimiters) are kept relative to the text between them. */
export function splitWith(text: string, regex: RegExp, behavior: Behavior): string[] {
  const segments: { text: string; match: boolean }[] = [];
  let last = 0;
  for (const m of text.matchAll(regex)) {
    const start = m.index ?? 0;
    if (m[0].length === 0) continue;
    if (start > last) segments.push({ text: text.slice(last, start), match: false });
    segments.push({ text: m[0], match: true });
    last = start + m[0].length;
  }
  if (last < text.length) segments.push({ text: text.slice(last), match: false });

  const out: string[] = [];
  let prevWasText = false;
  let carry = "";
  let prevWasMatch = false;
  for (const seg of segments) {
    switch (behavior) {
      case "Isolated":
        out.push(seg.text);
        break;
      case "Removed":
        if (!seg.match) out.push(seg.text);
        break;
      case "MergedWithPrevious":
        if (seg.match && prevWasText) out[out.length - 1] += seg.text;
        else out.push(seg.text);
        prevWasText = !seg.match;
        break;
      case "MergedWithNext":
        if (seg.match) {
          if (carry) out.push(carry);
          carry = seg.text;
        } else {
          out.push(carry + seg.text);
          carry = "";
        }
        break;
      case "Contiguous":
        if (seg.match && prevWasMatch) out[out.length - 1] += seg.text;
        else out.push(seg.text);
        prevWasMatch = seg.match;
        break;
    }
  }
  if (carry) out.push(carry);
  return out;
}

const BEHAVIORS: readonly Behavior[] = ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

export interface PreTokenizerInfo {
  run: PreTokenize;
  /** Whether a ByteLevel stage maps text to the byte alphabet (needed to pick the decoder when it is null). */
  byteLevel: boolean;
}

export function buildPreTokenizer(spec: unknown, where = "tokenizer.json pre_tokenizer"): PreTokenizerInfo {
  if (spec === null || spec === undefined) return { run: (pieces) => pieces, byteLevel: false };
  if (!isObject(spec)) throw new Error(`${where}: expected an object or null`);
  const type = typeOf(spec, where);
  const each = (fn: (piece: string, first: boolean) => string[]): PreTokenize => {
    return (pieces, first) => pieces.flatMap((p, i) => fn(p, first && i === 0));
  };
  switch (type) {
    case "Sequence": {
      const steps = requireArray(spec.pretokenizers, `${where}.pretokenizers`).map((p, i) =>
        buildPreTokenizer(p, `${where}.pretokenizers[${i}]`),
      );
      return {
        run: (pieces, first) => steps.reduce((acc, step) => step.run(acc, first), pieces),
        byteLevel: steps.some((s) => s.byteLevel),
      };
    }
    case "ByteLevel": {
      const addPrefixSpace = optionalBoolean(spec, "add_prefix_space", where) ?? true;
      const regex = (optionalBoolean(spec, "use_regex", where) ?? true) ? compilePattern(GPT2_PATTERN) : undefined;
      return {
        byteLevel: true,
        run: each((piece) => {
          const text = addPrefixSpace && !piece.startsWith(" ") ? ` ${piece}` : piece;
          return (regex ? splitWith(text, regex, "Isolated") : [text]).map(toByteLevel);
        }),
      };
    }
    case "Split": {
      if (spec.invert === true) throw new Error(`${where}: Split with invert=true is not supported`);
      const behavior = spec.behavior;
      if (typeof behavior !== "string" || !BEHAVIORS.includes(behavior as Behavior)) {
        throw new Error(`${where}: unsupported Split behavior ${JSON.stringify(behavior)}`);
      }
      const regex = patternOf(spec, where);
      return { byteLevel: false, run: each((piece) => splitWith(piece, regex, behavior as Behavior)) };
    }
    case "Metaspace": {
      const replacement = optionalString(spec, "replacement", where) ?? "\u2581";
      const scheme = metaspaceScheme(spec, where);
      const split = optionalBoolean(spec, "split", where) ?? true;
      const delimiter = new RegExp(replacement.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"), "gu");
      return {
        byteLevel: false,
        run: each((piece, first) => {
          let text = piece.replaceAll(" ", replacement);
          const prepend = scheme === "always" || (scheme === "first" && first);
          if (prepend && !text.startsWith(replacement)) text = replacement + text;
          return split ? splitWith(text, delimiter, "MergedWithNext") : [text];
        }),
      };
    }
    case "Digits": {
      const individual = optionalBoolean(spec, "individual_digits", where) ?? false;
      const regex = individual ? /\p{N}/gu : /\p{N}+/gu;
      return { byteLevel: false, run: each((piece) => splitWith(piece, regex, "Isolated")) };
    }
    case "WhitespaceSplit":
      return { byteLevel: false, run: each((piece) => splitWith(piece, /\s+/gu, "Removed")) };
    default:
      throw new Error(`${where}: unsupported pre-tokenizer type "${type}"`);
  }
}

export function metaspaceScheme(spec: JsonObject, where: string): "always" | "first" | "never" {
  const scheme = spec.prepend_scheme;
  if (scheme === "always" || scheme === "first" || scheme === "never") return scheme;
  if (scheme !== undefined && scheme !== null) throw new Error(`${where}: unknown prepend_scheme ${String(scheme)}`);
  // files written before prepend_scheme existed use add_prefix_space
  return optionalBoolean(spec, "add_prefix_space", where) === false ? "never" : "always";
}
