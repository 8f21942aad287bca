import { describe, expect, it } from "vitest";
import {
  compilePattern,
  GPT2_PATTERN,
  LLAMA3_PATTERN,
  patternForGGUFPre,
  QWEN2_PATTERN,
  splitIsolated,
  translateOniguruma,
} from "./pretokenize.js";

const split = (pattern: string, text: string) => splitIsolated(text, compilePattern(pattern));
const SAMPLE = "I've 12345 apples\n\n  x";

describe("pre-tokenizer patterns", () => {
  it("GPT-2", () => {
    expect(split(GPT2_PATTERN, SAMPLE)).toEqual(["I", "'ve", " 12345", " apples", "\n\n ", " x"]);
    // GPT-2's contractions are lowercase only
    expect(split(GPT2_PATTERN, "I'VE")).toEqual(["I", "'", "VE"]);
  });

  it("Llama-3 groups digits by three and keeps newlines apart", () => {
    expect(split(LLAMA3_PATTERN, SAMPLE)).toEqual(["I", "'ve", " ", "123", "45", " apples", "\n\n", " ", " x"]);
    expect(split(LLAMA3_PATTERN, "I'VE")).toEqual(["I", "'VE"]);
  });

  it("Qwen2 splits single digits", () => {
    expect(split(QWEN2_PATTERN, SAMPLE)).toEqual([
      "I",
      "'ve",
      " ",
      "1",
      "2",
      "3",
      "4",
      "5",
      " apples",
      "\n\n",
      " ",
      " x",
    ]);
  });

  it("maps GGUF pre names, defaulting to GPT-2", () => {
    expect(patternForGGUFPre("llama-bpe")).toBe(LLAMA3_PATTERN);
    expect(patternForGGUFPre("qwen2")).toBe(QWEN2_PATTERN);
    expect(patternForGGUFPre(undefined)).toBe(GPT2_PATTERN);
    expect(patternForGGUFPre("no-such-pre")).toBe(GPT2_PATTERN);
  });

  it("translates Oniguruma case-insensitive groups and code point escapes", () => {
    expect(translateOniguruma("(?i:'s|'ll)|\\p{L}+")).toBe("(?:'[sS]|'[lL][lL])|\\p{L}+");
    expect(translateOniguruma("(?i:a(b))c")).toBe("(?:[aA]([bB]))c");
    expect(translateOniguruma("[\\x{4E00}-\\x{9FFF}]")).toBe("[\\u{4E00}-\\u{9FFF}]");
    expect(() => compilePattern("(unclosed")).toThrow(/unsupported pre-tokenizer regex/);
  });

  it("keeps unmatched gaps as pieces", () => {
    expect(splitIsolated("ab--cd", /-+/gu)).toEqual(["ab", "--", "cd"]);
  });
});
