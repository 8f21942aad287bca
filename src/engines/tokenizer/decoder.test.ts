import { describe, expect, it } from "vitest";
import { byteToChar, byteTokenText } from "./bytes.js";
import { createStreamDecoder, type Tokenizer, tokenizerFromGGUF } from "./index.js";
import { SAMPLES } from "./testkit.js";

const BYTES = Array.from({ length: 256 }, (_, b) => byteToChar(b));
const gpt2 = tokenizerFromGGUF({
  model: "gpt2",
  tokens: [...BYTES, "<|eos|>"],
  tokenTypes: [...BYTES.map(() => 1), 3],
  merges: [],
  eosId: 256,
});
const spm = tokenizerFromGGUF({
  model: "llama",
  tokens: [
    "<unk>",
    "<s>",
    "</s>",
    ...Array.from({ length: 256 }, (_, b) => byteTokenText(b)),
    "\u2581",
    "\u2581a",
    "b",
  ],
  tokenTypes: [2, 3, 3, ...Array.from({ length: 256 }, () => 6), 1, 1, 1],
  bosId: 1,
  eosId: 2,
});

function streamAll(tok: Tokenizer, ids: readonly number[], skipSpecial = false): string[] {
  const d = createStreamDecoder(tok, { skipSpecial });
  const parts = ids.map((id) => d.push(id));
  parts.push(d.flush());
  return parts;
}

describe("createStreamDecoder", () => {
  it("holds back a multi-byte character until its last byte arrives", () => {
    // "é" is C3 A9 and "😀" is F0 9F 98 80: with a byte-per-token vocabulary they arrive in pieces
    const parts = streamAll(gpt2, gpt2.encode("a\u00e9\ud83d\ude00b"));
    expect(parts).toEqual(["a", "", "\u00e9", "", "", "", "\ud83d\ude00", "b", ""]);
  });

  it("never emits a replacement character for split sequences", () => {
    for (const text of SAMPLES) {
      const parts = streamAll(gpt2, gpt2.encode(text));
      expect(parts.join("")).toBe(text);
      for (const p of parts) expect(p).not.toContain("\ufffd");
    }
  });

  it("flushes an incomplete tail as U+FFFD", () => {
    const d = createStreamDecoder(gpt2);
    expect(d.push(0xe4)).toBe("");
    expect(d.flush()).toBe("\ufffd");
  });

  it("keeps SentencePiece spaces between pieces but drops the dummy prefix", () => {
    const ids = spm.encode("a b a", { addSpecial: false });
    expect(streamAll(spm, ids).join("")).toBe("a b a");
    expect(streamAll(spm, [1, ...ids, 2], true).join("")).toBe("a b a");
    expect(streamAll(spm, [1, ...ids, 2]).join("")).toBe(spm.decode([1, ...ids, 2]));
  });

  it("matches whole-sequence decode for SentencePiece byte fallback", () => {
    for (const text of SAMPLES.filter((s) => s.length > 0)) {
      const ids = spm.encode(text);
      const parts = streamAll(spm, ids, true);
      expect(parts.join("")).toBe(text);
      for (const p of parts) expect(p).not.toContain("\ufffd");
    }
  });

  it("skips special tokens when asked", () => {
    expect(streamAll(gpt2, [104, 256, 105], true).join("")).toBe("hi");
    expect(streamAll(gpt2, [104, 256, 105]).join("")).toBe("h<|eos|>i");
  });
});
