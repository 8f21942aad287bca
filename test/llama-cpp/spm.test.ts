/**
 * SentencePiece vocabularies (`tokenizer.ggml.model = llama`) tokenize in tritgate exactly as in
 * llama.cpp: the same ids for a few hundred strings, with and without special-token parsing, with
 * the default dummy-prefix space and with `add_space_prefix = false`, in a GGUF we write.
 */
import { afterAll, describe, expect, test } from "vitest";
import { bitnetEngineFromFile } from "../../src/engines/bitnet/index.js";
import { SAMPLES } from "../../src/engines/tokenizer/testkit.js";
import type { Tokenizer } from "../../src/engines/tokenizer/types.js";
import { readGGUF, writeGGUF } from "../../src/formats/gguf/index.js";
import { type LlamaModel, llamaCppOnce } from "./llama.js";
import { scratchDir } from "./models.js";
import { buildSpmVocab, mobyDick, SPM_SPECIAL, spmModel } from "./spm-vocab.js";

const EDGE_CASES = [
  "",
  " ",
  "  ",
  "   ",
  "\n",
  "\n\n",
  " \n ",
  "\t",
  "\r\n",
  "a",
  " a",
  "a ",
  "  leading two",
  "trailing two  ",
  "in  between   runs    of     spaces",
  "line one\nline two\n\nline four",
  "0",
  "0123456789",
  "1,000,000.25 and 3.14159 and 2024-06-01",
  "$100 + 20% = ?",
  "ÀÉÎÕÜ àéîõü ß ñ ç",
  "e\u0301 combining accent",
  "日本語のテキスト",
  "中文 和 English mixed",
  "🙂",
  "emoji 😀🎉👍🏽 🚀🚀",
  "👨‍👩‍👧 family",
  "🇫🇷 flag",
  "\u00a0non-breaking\u00a0spaces",
  "zero\u200bwidth",
  "\u2581 a literal lower one-eighth block",
  "\u2581\u2581",
  "<s>",
  "</s>",
  "<unk>",
  "<s>hello</s>",
  "hello<s>world",
  " <s> spaced </s> ",
  "<|user|>",
  "<|user|>hi there<|im_end|>",
  "text<|im_end|>\n<|user|> next",
  "<|im_end|><|im_end|>",
  "<0x41>",
  "<unused0>",
  "Call me Ishmael.",
  "CALL ME ISHMAEL",
  "whale whales whaling whaleman",
  "the the the the",
  "a.b,c;d:e!f?g",
  "\"quoted\" and 'single' and (parens) [brackets] {braces}",
  "https://example.com/path?query=1&x=y#frag",
  "user@example.com",
  "snake_case camelCase kebab-case",
  "    four leading",
  `x${" ".repeat(17)}y`,
  "\n leading newline then space",
  "ends with newline\n",
  "\ttab\tseparated\tvalues",
  "ﬁ ligature and ＡＢＣ fullwidth",
  "Ελληνικά Русский عربى עברית",
  "\uFFFD replacement",
];

/** Sentences of a chapter the vocabulary was not learned from. */
function heldOutSentences(count: number): string[] {
  const text = [50, 51, 52, 53, 54].map(mobyDick).join(" ").replace(/\s+/g, " ");
  return (text.match(/[^.!?]+[.!?]+/g) ?? []).slice(0, count).map((s) => s.trimStart());
}

const STRINGS = [...EDGE_CASES, ...SAMPLES, ...heldOutSentences(250)];

const llamaCpp = llamaCppOnce();
const scratch = scratchDir("llama-spm");
const vocab = buildSpmVocab(2500);
afterAll(() => scratch.remove());

describe.each([
  ["the default dummy-prefix space", undefined],
  ["add_space_prefix = false", false],
] as const)("a SentencePiece vocabulary with %s", (label, addSpacePrefix) => {
  let loading: Promise<{ model: LlamaModel; ours: Tokenizer }> | undefined;
  const both = () => {
    loading ??= (async () => {
      const path = `${scratch.dir}/spm-${addSpacePrefix ?? "default"}.gguf`;
      await writeGGUF(path, spmModel(vocab, { addSpacePrefix }));
      const ours = bitnetEngineFromFile(await readGGUF(path)).tokenizer;
      return { model: await (await llamaCpp()).loadModel(path, { vocabOnly: true }), ours };
    })();
    return loading;
  };
  afterAll(async () => {
    await (await loading?.catch(() => undefined))?.model.dispose();
  });

  test(`is big enough to be realistic (${label})`, () => {
    expect(vocab.tokens.length).toBeGreaterThan(2000);
    expect(STRINGS.length).toBeGreaterThan(300);
  });

  test.each([false, true])("tokenizes every string as llama.cpp does, parseSpecial %s", async (parseSpecial) => {
    const { model, ours } = await both();
    const mismatches: string[] = [];
    for (const text of STRINGS) {
      const want = model.tokenize(text, parseSpecial);
      const got = ours.encode(text, { addSpecial: false, parseSpecial });
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches.push(`${JSON.stringify(text)}: tritgate ${JSON.stringify(got)}, llama.cpp ${JSON.stringify(want)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  test("adds BOS as llama.cpp does, and names the same special tokens", async () => {
    const { model, ours } = await both();
    expect(ours.addBos).toBe(model.tokens.shouldPrependBosToken);
    expect(ours.bosId).toBe(model.tokens.bos);
    expect(ours.bosId).toBe(SPM_SPECIAL.bos);
    expect(ours.eosIds).toContain(model.tokens.eos);
    expect(ours.encode("hi")[0]).toBe(SPM_SPECIAL.bos);
  });
});
