import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as ReferenceTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { byteTokenText } from "./bytes.js";
import { loadTokenizerDir, tokenizerFromHuggingFace } from "./index.js";
import { compilePattern, GPT2_PATTERN } from "./pretokenize.js";
import { BYTE_ALPHABET, byteLevelWords, CORPUS, SAMPLES, trainBpe } from "./testkit.js";

// The Llama-3 pattern as tokenizer.json spells it (Oniguruma syntax, case-insensitive group).
const LLAMA3_ONIG =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function added(id: number, content: string, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

function gpt2Json() {
  const { vocab, merges } = trainBpe(byteLevelWords(CORPUS, compilePattern(GPT2_PATTERN)), BYTE_ALPHABET, 300);
  const eot = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: [added(eot, "<|endoftext|>"), added(eot + 1, "<tool>", false)],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function llama3Json() {
  const { vocab, merges } = trainBpe(byteLevelWords(CORPUS, compilePattern(LLAMA3_ONIG)), BYTE_ALPHABET, 400);
  const bos = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: [added(bos, "<|begin_of_text|>"), added(bos + 1, "<|end_of_text|>"), added(bos + 2, "<|eot_id|>")],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_ONIG }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [],
          special_tokens: {
            "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [bos], tokens: ["<|begin_of_text|>"] },
          },
        },
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      // newer tokenizer.json files store merges as pairs
      merges: merges.map((m) => m.split(" ")),
    },
  };
}

/** Llama-2 / Mistral style: Metaspace, byte fallback, no merges across "▁" words. */
function sentencePieceJson() {
  const words = CORPUS.replaceAll(" ", "\u2581").split(/(?=\u2581)/u);
  // leave CJK and emoji out of the alphabet so they exercise byte fallback
  const alphabet = [...new Set([...CORPUS.replaceAll(" ", ""), "\u2581"])]
    .filter((c) => /[\p{Script=Latin}\p{P}\p{N}\u2581]/u.test(c))
    .sort();
  const specials = ["<unk>", "<s>", "</s>"];
  const bytes = Array.from({ length: 256 }, (_, b) => byteTokenText(b));
  const { vocab: learned, merges } = trainBpe(words, alphabet, 250);
  const vocab: Record<string, number> = {};
  for (const t of [...specials, ...bytes, ...Object.keys(learned)])
    if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: specials.map((s, i) => added(i, s)),
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", fuse_unk: true, byte_fallback: true, vocab, merges },
  };
}

const CASES = [
  { name: "GPT-2 byte-level", json: gpt2Json, config: { eos_token: "<|endoftext|>" } },
  {
    name: "Llama-3 byte-level",
    json: llama3Json,
    config: { bos_token: "<|begin_of_text|>", eos_token: { content: "<|eot_id|>", special: true } },
  },
  // Metaspace adds no "▁" to text that already starts with a space, yet the decoder strips one: HF is lossy there
  { name: "SentencePiece BPE", json: sentencePieceJson, config: { bos_token: "<s>", eos_token: "</s>" }, lossy: true },
];

const EXTRA = [
  ...SAMPLES,
  "the the the thethe THE",
  "Hello<|endoftext|>world <tool>x</tool>",
  "<|begin_of_text|>hi<|eot_id|>",
  "<s> spaced </s>",
];

describe.each(CASES)("tokenizer.json cross-check: $name", ({ json, config, lossy }) => {
  const tokenizerJson = json();
  const ours = tokenizerFromHuggingFace(tokenizerJson, config);
  const reference = new ReferenceTokenizer(tokenizerJson, config);

  it.each(EXTRA)("same ids as @huggingface/tokenizers for %j", (text) => {
    expect(ours.encode(text, { addSpecial: false })).toEqual(reference.encode(text, { add_special_tokens: false }).ids);
    expect(ours.encode(text)).toEqual(reference.encode(text).ids);
  });

  it.each(EXTRA)("round-trips %j", (text) => {
    const ids = ours.encode(text, { addSpecial: false });
    expect(ours.decode(ids)).toBe(lossy && text.startsWith(" ") ? text.slice(1) : text);
    if (ids.length > 0) {
      expect(ours.decode(ids)).toBe(reference.decode(ids));
      expect(ours.decode(ids, { skipSpecial: true })).toBe(reference.decode(ids, { skip_special_tokens: true }));
    }
  });

  it("merges real text", () => {
    const ids = ours.encode("The quick brown fox", { addSpecial: false });
    expect(ids.length).toBeLessThan("The quick brown fox".length * 0.7);
  });
});

describe("tokenizer.json details", () => {
  it("reads BOS handling from the post-processor and lets tokenizer_config override it", () => {
    const json = llama3Json();
    const bos = json.added_tokens[0]?.id;
    const t = tokenizerFromHuggingFace(json, { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" });
    expect(t.addBos).toBe(true);
    expect(t.bosId).toBe(bos);
    expect(t.encode("hi")[0]).toBe(bos);
    const off = tokenizerFromHuggingFace(json, { add_bos_token: false });
    expect(off.addBos).toBe(false);
    expect(off.encode("hi")[0]).not.toBe(bos);
    const noTemplate = tokenizerFromHuggingFace(
      { ...json, post_processor: null },
      { bos_token: "<|begin_of_text|>", add_bos_token: true },
    );
    expect(noTemplate.encode("hi")[0]).toBe(bos);
  });

  it("collects eos ids from the config and end-of-turn specials", () => {
    const json = llama3Json();
    const [, end, eot] = json.added_tokens.map((t) => t.id);
    const t = tokenizerFromHuggingFace(json, { eos_token: { content: "<|end_of_text|>" } });
    expect(t.eosIds).toEqual([end, eot]);
    expect(t.isSpecial(eot as number)).toBe(true);
    expect(t.decode([eot as number])).toBe("<|eot_id|>");
    expect(t.decode([eot as number], { skipSpecial: true })).toBe("");
  });

  it("takes the default entry of a chat_template list", () => {
    const t = tokenizerFromHuggingFace(gpt2Json(), {
      chat_template: [
        { name: "tool_use", template: "TOOLS" },
        { name: "default", template: "{% for m in messages %}[{{ m.role }}]{% endfor %}" },
      ],
    });
    expect(t.applyChatTemplate([{ role: "user", content: "x" }])).toBe("[user]");
  });

  it("non-special added tokens are matched even without parseSpecial", () => {
    const json = gpt2Json();
    const tool = json.added_tokens[1]?.id;
    const t = tokenizerFromHuggingFace(json);
    expect(t.encode("a<tool>", { addSpecial: false, parseSpecial: false })).toContain(tool);
    expect(t.encode("a<|endoftext|>", { addSpecial: false, parseSpecial: false })).not.toContain(
      json.added_tokens[0]?.id,
    );
  });

  it("loads a directory with tokenizer.json, tokenizer_config.json and chat_template.jinja", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tritgate-tok-"));
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(gpt2Json()));
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|endoftext|>" }));
    await writeFile(join(dir, "chat_template.jinja"), "{{ messages[0].content }}{{ eos_token }}");
    const t = await loadTokenizerDir(dir);
    expect(t.decode(t.encode("héllo wörld"))).toBe("héllo wörld");
    expect(t.applyChatTemplate([{ role: "user", content: "q" }])).toBe("q<|endoftext|>");
    await expect(loadTokenizerDir(join(dir, "missing"))).rejects.toThrow(/tokenizer.json: not found/);
    await writeFile(join(dir, "tokenizer.json"), "{ not json");
    await expect(loadTokenizerDir(dir)).rejects.toThrow(/invalid JSON/);
  });
});

describe("tokenizer.json errors", () => {
  it("rejects non-objects and missing models", () => {
    expect(() => tokenizerFromHuggingFace("nope")).toThrow(/tokenizer.json: expected an object/);
    expect(() => tokenizerFromHuggingFace({})).toThrow(/tokenizer.json model: expected an object/);
  });
  it("names unsupported model types and components", () => {
    expect(() => tokenizerFromHuggingFace({ model: { type: "WordPiece", vocab: { a: 0 } } })).toThrow(/"WordPiece"/);
    const json = gpt2Json();
    expect(() => tokenizerFromHuggingFace({ ...json, normalizer: { type: "Precompiled" } })).toThrow(
      /unsupported normalizer type "Precompiled"/,
    );
    expect(() => tokenizerFromHuggingFace({ ...json, pre_tokenizer: { type: "BertPreTokenizer" } })).toThrow(
      /unsupported pre-tokenizer type "BertPreTokenizer"/,
    );
    expect(() => tokenizerFromHuggingFace({ ...json, decoder: { type: "WordPiece" } })).toThrow(/unsupported decoder/);
  });
  it("names merges that reference unknown tokens", () => {
    const json = gpt2Json();
    const bad = { ...json, model: { ...json.model, merges: [...json.model.merges, "\u0120 \u2603"] } };
    expect(() => tokenizerFromHuggingFace(bad)).toThrow(/merges\[\d+\] "\u0120 \u2603" names "\u2603"/);
  });
  it("rejects malformed vocab and config fields", () => {
    expect(() => tokenizerFromHuggingFace({ model: { type: "BPE", vocab: { a: "zero" }, merges: [] } })).toThrow(
      /id of "a" must be a non-negative integer/,
    );
    expect(() => tokenizerFromHuggingFace(gpt2Json(), { bos_token: 7 })).toThrow(/"bos_token" must be/);
    expect(() => tokenizerFromHuggingFace(gpt2Json(), [])).toThrow(/tokenizer_config.json: expected an object/);
  });
});
