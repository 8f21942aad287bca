// Pre-tokenizer patterns. Upstream patterns are written for Oniguruma/PCRE; JavaScript (Node 20) lacks inline
// modifiers like (?i:...), so the contraction groups are spelled with explicit case classes.
const CONTRACTIONS_CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

export const LLAMA3_PATTERN =
  CONTRACTIONS_CI + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

// Qwen2 differs from Llama-3 only in splitting numbers into single digits
export const QWEN2_PATTERN =
  CONTRACTIONS_CI + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** Maps llama.cpp's tokenizer.ggml.pre names to a pattern; unknown names use GPT-2's. */
export function patternForGGUFPre(pre: string | undefined): string {
  switch (pre) {
    case "llama-bpe":
    case "llama3":
    case "llama-v3":
    case "smaug-bpe":
    case "dbrx":
    case "falcon3":
      return LLAMA3_PATTERN;
    case "qwen2":
    case "deepseek-r1-qwen":
      return QWEN2_PATTERN;
    default:
      return GPT2_PATTERN;
  }
}

export function compilePattern(pattern: string): RegExp {
  const source = translateOniguruma(pattern);
  try {
    return new RegExp(source, "gu");
  } catch (err) {
    throw new Error(`tokenizer: unsupported pre-tokenizer regex ${JSON.stringify(pattern)}: ${String(err)}`);
  }
}

/**
 * Rewrites the Oniguruma constructs that appear in real tokenizer.json files into JavaScript syntax:
 * (?i:...) groups get explicit [xX] classes for letters outside character classes.
 */
export function translateOniguruma(pattern: string): string {
  let out = "";
  let i = 0;
  // depth of parentheses inside each open (?i: group, so we know when it closes
  const ciDepths: number[] = [];
  let inClass = false;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === "\\") {
      const braced = /^\\([pPxu])\{[^}]*\}/.exec(pattern.slice(i));
      if (braced) {
        // \x{HHHH} is Oniguruma's code point escape; JavaScript spells it \u{HHHH}
        out += braced[1] === "x" ? `\\u${braced[0].slice(2)}` : braced[0];
        i += braced[0].length;
        continue;
      }
      out += pattern.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      out += ch;
      i++;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      out += ch;
      i++;
      continue;
    }
    if (pattern.startsWith("(?i:", i)) {
      ciDepths.push(0);
      out += "(?:";
      i += 4;
      continue;
    }
    const top = ciDepths.length - 1;
    if (ch === "(" && top >= 0) ciDepths[top] = (ciDepths[top] as number) + 1;
    if (ch === ")" && top >= 0) {
      if (ciDepths[top] === 0) ciDepths.pop();
      else ciDepths[top] = (ciDepths[top] as number) - 1;
    }
    if (ciDepths.length > 0 && /\p{L}/u.test(ch) && ch.toLowerCase() !== ch.toUpperCase()) {
      out += `[${ch.toLowerCase()}${ch.toUpperCase()}]`;
    } else {
      out += ch;
    }
    i++;
  }
  return out;
}

/** Pieces of `text` between the regex's (non-empty) matches, with the matches kept as pieces or dropped. */
function splitOnMatches(text: string, regex: RegExp, keepMatches: boolean): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(regex)) {
    const start = m.index ?? 0;
    if (m[0].length === 0) continue;
    if (start > last) out.push(text.slice(last, start));
    if (keepMatches) out.push(m[0]);
    last = start + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Splits `text` into the regex's matches, keeping unmatched gaps as their own pieces (HF "Isolated"). */
export function splitIsolated(text: string, regex: RegExp): string[] {
  return splitOnMatches(text, regex, true);
}

/** Splits `text` on the regex's matches, dropping them (HF "Removed"). */
export function splitRemoved(text: string, regex: RegExp): string[] {
  return splitOnMatches(text, regex, false);
}
