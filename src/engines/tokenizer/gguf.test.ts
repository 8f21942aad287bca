import { describe, expect, it } from "vitest";
import { metaNumber, metaNumbers, metaString, metaStrings, readGGUF } from "../../formats/gguf/index.js";
import { byteToChar, byteTokenText } from "./bytes.js";
import { tokenizerFromGGUF } from "./index.js";
import { SAMPLES } from "./testkit.js";
import type { GGUFVocab } from "./types.js";

const BYTES = Array.from({ length: 256 }, (_, b) => byteToChar(b));

/** 256 byte tokens (token i = byte i), 4 merges, 2 control tokens. */
function tinyGpt2(extra: Partial<GGUFVocab> = {}): GGUFVocab {
  const tokens = [...BYTES, "\u0120t", "he", "the", "\u0120a", "<|bos|>", "<|eos|>"];
  return {
    model: "gpt2",
    pre: "default",
    tokens,
    tokenTypes: tokens.map((_, i) => (i >= 260 ? 3 : 1)),
    merges: ["\u0120 t", "h e", "t he", "\u0120 a"],
    bosId: 260,
    eosId: 261,
    ...extra,
  };
}

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe("GGUF gpt2 (byte-level BPE)", () => {
  const tok = tokenizerFromGGUF(tinyGpt2());

  it("applies merges by rank and leaves unmergeable text as byte tokens", () => {
    expect(tok.encode("the", { addSpecial: false })).toEqual([258]);
    expect(tok.encode("Quick", { addSpecial: false })).toEqual(ascii("Quick"));
    // "h e" applies inside "The"; " quick" has no merge so it stays bytes (space is token 32)
    expect(tok.encode("The quick", { addSpecial: false })).toEqual([84, 257, ...ascii(" quick")]);
    // "Ġ t" outranks "h e", and "Ġt he" is not a merge, so " the" is not one token
    expect(tok.encode(" the", { addSpecial: false })).toEqual([256, 257]);
    expect(tok.encode(" a a", { addSpecial: false })).toEqual([259, 259]);
    expect(tok.encode("\n", { addSpecial: false })).toEqual([10]);
  });

  it("encodes non-ASCII as its UTF-8 bytes", () => {
    expect(tok.encode("\u00e9\u4f60", { addSpecial: false })).toEqual([0xc3, 0xa9, 0xe4, 0xbd, 0xa0]);
  });

  it("matches control tokens only when parseSpecial is on", () => {
    expect(tok.encode("<|bos|>the<|eos|>", { addSpecial: false })).toEqual([260, 258, 261]);
    expect(tok.encode("<|bos|>the", { addSpecial: false, parseSpecial: false })).toEqual([...ascii("<|bos|>"), 258]);
  });

  it("adds BOS/EOS only as configured", () => {
    expect(tok.addBos).toBe(false);
    expect(tok.encode("the")).toEqual([258]);
    const withBos = tokenizerFromGGUF(tinyGpt2({ addBos: true, addEos: true }));
    expect(withBos.addBos).toBe(true);
    expect(withBos.encode("the")).toEqual([260, 258, 261]);
    expect(withBos.encode("the", { addSpecial: false })).toEqual([258]);
  });

  it("reports ids, texts and bytes", () => {
    expect(tok.vocabSize).toBe(262);
    expect(tok.bosId).toBe(260);
    expect(tok.eosIds).toEqual([261]);
    expect(tok.isSpecial(260)).toBe(true);
    expect(tok.isSpecial(258)).toBe(false);
    expect(tok.tokenText(256)).toBe("\u0120t");
    expect([...tok.tokenBytes(256)]).toEqual([0x20, 0x74]);
    expect([...tok.tokenBytes(0xc3)]).toEqual([0xc3]);
    expect(new TextDecoder().decode(tok.tokenBytes(260))).toBe("<|bos|>");
    expect(tok.tokenBytes(9999).length).toBe(0);
  });

  it("decodes, optionally skipping control tokens", () => {
    const ids = [260, 84, 257, 259, 261];
    expect(tok.decode(ids)).toBe("<|bos|>The a<|eos|>");
    expect(tok.decode(ids, { skipSpecial: true })).toBe("The a");
  });

  it.each(SAMPLES)("round-trips %j", (text) => {
    const ids = tok.encode(text, { addSpecial: false });
    expect(tok.decode(ids)).toBe(text);
  });

  it("collects end-of-generation tokens by name", () => {
    const tokens = [...BYTES, "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>"];
    const t = tokenizerFromGGUF({
      model: "gpt2",
      pre: "llama-bpe",
      tokens,
      tokenTypes: tokens.map((_, i) => (i >= 256 ? 3 : 1)),
      merges: [],
      bosId: 256,
      eosId: 257,
      eotId: 258,
    });
    expect(t.eosIds).toEqual([257, 258, 259]);
    // llama.cpp turns BOS on by default for Llama-3 vocabularies
    expect(t.addBos).toBe(true);
    expect(t.encode("hi")).toEqual([256, ...ascii("hi")]);
  });

  it("never throws on bytes missing from the vocabulary", () => {
    const tokens = [...BYTES.slice(0, 128), "<unk>"];
    const t = tokenizerFromGGUF({ model: "gpt2", tokens, merges: [], unknownId: 128 });
    expect(t.encode("a\u00e9b", { addSpecial: false })).toEqual([97, 128, 128, 98]);
    const noUnk = tokenizerFromGGUF({ model: "gpt2", tokens, merges: [] });
    expect(noUnk.encode("a\u00e9b", { addSpecial: false })).toEqual([97, 98]);
  });
});

describe("GGUF pre-tokenizers", () => {
  const vocabWith = (pre: string) => tokenizerFromGGUF({ ...tinyGpt2({ merges: [] }), pre });
  const words = (pre: string, text: string) => {
    const t = vocabWith(pre);
    // with no merges every byte is one token, so split points show up as nothing; use decode per word instead
    return t.decode(t.encode(text, { addSpecial: false }));
  };

  it("keeps text intact under every known pattern", () => {
    for (const pre of ["default", "gpt2", "llama-bpe", "qwen2", "something-new"]) {
      expect(words(pre, "I'VE 12345 apples\n\n  x")).toBe("I'VE 12345 apples\n\n  x");
    }
  });
});

describe("GGUF llama (SentencePiece BPE with scores)", () => {
  const pieces: [string, number][] = [
    ["\u2581", -1],
    ["h", -2],
    ["e", -2],
    ["l", -2],
    ["o", -2],
    ["w", -2],
    ["r", -2],
    ["d", -2],
    ["he", -3],
    ["ll", -4],
    ["\u2581h", -5],
    ["\u2581he", -6],
    ["llo", -7],
    ["\u2581hello", -8],
    ["or", -9],
    ["ld", -10],
  ];
  const tokens = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => byteTokenText(b))];
  const types = [2, 3, 3, ...Array.from({ length: 256 }, () => 6)];
  const scores = tokens.map(() => 0);
  for (const [text, score] of pieces) {
    tokens.push(text);
    types.push(1);
    scores.push(score);
  }
  const id = (piece: string) => tokens.indexOf(piece);
  const vocab: GGUFVocab = { model: "llama", tokens, scores, tokenTypes: types, bosId: 1, eosId: 2, unknownId: 0 };
  const tok = tokenizerFromGGUF(vocab);

  it("merges by highest score and adds the dummy prefix", () => {
    expect(tok.encode("hello", { addSpecial: false })).toEqual([id("\u2581hello")]);
    // "▁w" is not a piece, so the word stays split where no higher-scoring merge exists
    expect(tok.encode("hello world", { addSpecial: false })).toEqual([
      id("\u2581hello"),
      id("\u2581"),
      id("w"),
      id("or"),
      id("ld"),
    ]);
  });

  it("falls back to <0xXX> byte tokens", () => {
    expect(tok.encode("hello \u00e9", { addSpecial: false })).toEqual([
      id("\u2581hello"),
      id("\u2581"),
      3 + 0xc3,
      3 + 0xa9,
    ]);
    expect(tok.decode([id("\u2581hello"), id("\u2581"), 3 + 0xc3, 3 + 0xa9])).toBe("hello \u00e9");
  });

  it("prepends BOS by default and treats control tokens as special", () => {
    expect(tok.addBos).toBe(true);
    expect(tok.encode("hello")).toEqual([1, id("\u2581hello")]);
    expect(tok.encode("<s>hello</s>", { addSpecial: false })).toEqual([1, id("\u2581hello"), 2]);
    expect(tok.decode([1, id("\u2581hello"), 2])).toBe("<s> hello</s>");
    expect(tok.decode([1, id("\u2581hello"), 2], { skipSpecial: true })).toBe("hello");
    expect(tok.eosIds).toEqual([2]);
    expect([...tok.tokenBytes(id("\u2581hello"))]).toEqual([...new TextEncoder().encode(" hello")]);
    expect([...tok.tokenBytes(3 + 0x0a)]).toEqual([0x0a]);
  });

  it.each(SAMPLES.filter((s) => s.length > 0))("round-trips %j", (text) => {
    expect(tok.decode(tok.encode(text, { addSpecial: false }))).toBe(text);
    expect(tok.decode(tok.encode(text), { skipSpecial: true })).toBe(text);
  });

  it("without byte tokens falls back to unk", () => {
    const small = tokenizerFromGGUF({
      ...vocab,
      tokens: tokens.slice(0, 3).concat(pieces.map((p) => p[0])),
      scores: [0, 0, 0, ...pieces.map((p) => p[1])],
      tokenTypes: [2, 3, 3, ...pieces.map(() => 1)],
    });
    // ids: 3 is "▁", 4 is "h"; "é" has no piece and no byte token
    expect(small.encode("h\u00e9", { addSpecial: false })).toEqual([3 + 10, 0]);
  });
});

describe("GGUF errors", () => {
  it("names an unsupported model", () => {
    expect(() => tokenizerFromGGUF({ model: "bert", tokens: ["a"] })).toThrow(/"bert"/);
  });
  it("names a merge whose result is not a token", () => {
    expect(() => tokenizerFromGGUF(tinyGpt2({ merges: ["\u0120 z"] }))).toThrow(/merges\[0\].*"\u0120z"/);
  });
  it("rejects malformed merges and missing pieces", () => {
    expect(() => tokenizerFromGGUF(tinyGpt2({ merges: ["abc"] }))).toThrow(/malformed merges\[0\]/);
    expect(() => tokenizerFromGGUF(tinyGpt2({ merges: undefined }))).toThrow(/no tokenizer.ggml.merges/);
    expect(() => tokenizerFromGGUF({ model: "gpt2", tokens: [] })).toThrow(/no tokens/);
    expect(() => tokenizerFromGGUF({ ...tinyGpt2(), scores: [1, 2] })).toThrow(/scores has 2 entries/);
  });
});

describe("GGUF fixture (test/fixtures/bitnet/tiny-bitnet.gguf)", () => {
  it("loads the fixture vocabulary and chat template", async () => {
    const file = await readGGUF(new URL("../../../test/fixtures/bitnet/tiny-bitnet.gguf", import.meta.url).pathname);
    const tok = tokenizerFromGGUF({
      model: metaString(file, "tokenizer.ggml.model") ?? "",
      pre: metaString(file, "tokenizer.ggml.pre"),
      tokens: metaStrings(file, "tokenizer.ggml.tokens") ?? [],
      tokenTypes: metaNumbers(file, "tokenizer.ggml.token_type"),
      merges: metaStrings(file, "tokenizer.ggml.merges"),
      bosId: metaNumber(file, "tokenizer.ggml.bos_token_id"),
      eosId: metaNumber(file, "tokenizer.ggml.eos_token_id"),
      addBos: true,
      chatTemplate: metaString(file, "tokenizer.chat_template"),
    });
    expect(tok.vocabSize).toBe(264);
    // merges are "Ġ t", "h e", "Ġt he", "i n": " the" goes Ġt+h+e -> Ġt+he -> Ġthe
    expect(tok.encode(" the thin", { addSpecial: false })).toEqual([258, 256, 104, 259]);
    expect(tok.encode("Quick")).toEqual([260, ...ascii("Quick")]);
    const prompt = tok.applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
    expect(prompt).toBe("<|user|>hi<|eos|><|assistant|>");
    expect(tok.encode(prompt, { addSpecial: false })).toEqual([262, 104, 105, 261, 263]);
  });
});
