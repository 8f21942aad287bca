import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as ReferenceTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { loadTokenizerDir, tokenizerFromHuggingFace } from "../../engines/tokenizer/index.js";
import {
  BYTE_TO_CHAR,
  countWords,
  DEFAULT_SPECIAL_TOKENS,
  fromByteLevel,
  learnBpe,
  preTokenize,
  saveTokenizer,
  stringifyTokenizerConfig,
  stringifyTokenizerJson,
  toByteLevel,
  trainTokenizer,
} from "./index.js";
import { sampleCorpus } from "./sample-text.js";

const VOCAB_SIZE = 700;

const STRINGS = [
  "Hello world",
  "The gateway routes each request to the model that fits it best.",
  "  leading and trailing spaces  ",
  "Punctuation!? (brackets) [more] {braces} <angle> #hash @at ~tilde... --- ;;; ''",
  "Digits 0 7 42 123456789 3.14159 1,000,000 2025-06-30",
  "Café naïve résumé Ångström São Paulo Ελληνικά Русский 日本語",
  "Emoji 🙂🚀 and a family 👨‍👩‍👧 and flags 🇫🇷",
  "line one\nline two\n\n\tindented\r\nwindows line\n",
  "She said \"it's\" and 'they'll' and we're, I'm, you've, he'd",
  "unseen words: zyxwvut qqqq xkcd",
  "   ",
  "",
  "control \u0000 \u0007 chars and \u00a0 no-break space",
  "<|user|> is special, so is <|end|> but <|nope|> is not",
];

/** Naive reference: recount every pair from scratch at every step. */
function naiveMerges(counts: ReadonlyMap<string, number>, numMerges: number): string[] {
  const words = [...counts].map(([w, c]) => ({ sym: toByteLevel(w).split(""), c }));
  const merges: string[] = [];
  for (let step = 0; step < numMerges; step++) {
    const pairs = new Map<string, { a: string; b: string; n: number }>();
    for (const { sym, c } of words) {
      for (let i = 0; i + 1 < sym.length; i++) {
        const a = sym[i] ?? "";
        const b = sym[i + 1] ?? "";
        const key = `${a}\u0000${b}`;
        const entry = pairs.get(key) ?? { a, b, n: 0 };
        entry.n += c;
        pairs.set(key, entry);
      }
    }
    let best: { a: string; b: string; n: number } | undefined;
    for (const p of pairs.values()) {
      if (
        best === undefined ||
        p.n > best.n ||
        (p.n === best.n && (p.a < best.a || (p.a === best.a && p.b < best.b)))
      ) {
        best = p;
      }
    }
    if (best === undefined || best.n < 2) break;
    merges.push(`${best.a} ${best.b}`);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.sym.length; i++) {
        if (w.sym[i] === best.a && w.sym[i + 1] === best.b && i + 1 < w.sym.length) {
          out.push(best.a + best.b);
          i++;
        } else out.push(w.sym[i] ?? "");
      }
      w.sym = out;
    }
  }
  return merges;
}

describe("byte-level alphabet", () => {
  it("maps the 256 bytes to distinct printable characters, GPT-2 style", () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    expect(BYTE_TO_CHAR[0x20]).toBe("Ġ");
    expect(BYTE_TO_CHAR[0x0a]).toBe("Ċ");
    expect(BYTE_TO_CHAR[0x41]).toBe("A");
    // the soft hyphen is the last non-printable byte: 0x100 + 33 controls/space + 34 (DEL, C1, NBSP)
    expect(BYTE_TO_CHAR[0xad]).toBe("\u0143");
    expect(toByteLevel(" café")).toBe("ĠcafÃ©");
    expect(new TextDecoder().decode(fromByteLevel(toByteLevel("🙂 x\n")))).toBe("🙂 x\n");
  });
});

describe("preTokenize", () => {
  it("splits like GPT-2 and loses nothing", () => {
    expect(preTokenize("Hello world's 123 end!!  \n  x")).toEqual([
      "Hello",
      " world",
      "'s",
      " 123",
      " end",
      "!!",
      "  \n ",
      " x",
    ]);
    for (const s of STRINGS) expect(preTokenize(s).join("")).toBe(s);
  });

  it("counts words per text", () => {
    const { counts, total } = countWords(["a b a", "a"]);
    expect([...counts]).toEqual([
      ["a", 2],
      [" b", 1],
      [" a", 1],
    ]);
    expect(total).toBe(4);
  });
});

describe("learnBpe", () => {
  it("learns the same merges as a naive recount-everything trainer", () => {
    const { counts } = countWords(sampleCorpus());
    const fast = learnBpe(counts, { maxTokens: 256 + 300 });
    expect(fast.merges.map(([a, b]) => `${a} ${b}`)).toEqual(naiveMerges(counts, 300));
  });

  it("breaks ties by the lexicographic order of the pair", () => {
    const counts = new Map([
      ["zz", 3],
      ["cd", 3],
      ["ab", 3],
      ["ca", 3],
    ]);
    const { merges } = learnBpe(counts, { maxTokens: 260 });
    expect(merges).toEqual([
      ["a", "b"],
      ["c", "a"],
      ["c", "d"],
      ["z", "z"],
    ]);
  });

  it("handles repeated symbols and stops at minFrequency", () => {
    const { merges, mergeCounts } = learnBpe(new Map([["aaaaa", 2]]), { maxTokens: 300 });
    // a a a a a → aa aa a; then (aa, a) and (aa, aa) tie at 2 and "a" < "aa" decides
    expect(merges).toEqual([
      ["a", "a"],
      ["aa", "a"],
      ["aa", "aaa"],
    ]);
    expect(mergeCounts).toEqual([8, 2, 2]);
    expect(learnBpe(new Map([["ab", 1]]), { maxTokens: 300 }).merges).toEqual([]);
    expect(learnBpe(new Map([["ab", 1]]), { maxTokens: 300, minFrequency: 1 }).merges).toEqual([["a", "b"]]);
  });

  it("adds one token when two merges spell the same string", () => {
    // "abc" is learned as (ab, c) from one word and as (a, bc) from another
    const counts = new Map([
      ["abab", 10],
      ["abc", 5],
      ["xbc", 8],
      ["a", 1],
    ]);
    const { tokens, merges } = learnBpe(counts, { maxTokens: 300, minFrequency: 1 });
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(tokens.length).toBeLessThan(256 + merges.length + 1);
  });
});

describe("trainTokenizer", () => {
  const trained = trainTokenizer(sampleCorpus(), { vocabSize: VOCAB_SIZE });
  const { tokenizerJson, tokenizerConfig } = trained;
  const ours = tokenizerFromHuggingFace(tokenizerJson, tokenizerConfig);
  const reference = new ReferenceTokenizer(tokenizerJson, tokenizerConfig);

  it("lays out the vocabulary as bytes, merges, then special tokens", () => {
    const vocab = tokenizerJson.model.vocab;
    expect(Object.keys(vocab).length).toBe(VOCAB_SIZE);
    expect(trained.stats.vocabSize).toBe(VOCAB_SIZE);
    BYTE_TO_CHAR.forEach((c, b) => {
      expect(vocab[c]).toBe(b);
    });
    const specials = tokenizerJson.added_tokens;
    expect(specials.map((t) => t.content)).toEqual([...DEFAULT_SPECIAL_TOKENS]);
    specials.forEach((t, i) => {
      expect(t.id).toBe(VOCAB_SIZE - DEFAULT_SPECIAL_TOKENS.length + i);
      expect(t.special).toBe(true);
      expect(vocab[t.content]).toBe(t.id);
    });
  });

  it("lists merges in the order learned", () => {
    const vocab = tokenizerJson.model.vocab;
    let lastNewId = 255;
    for (const m of tokenizerJson.model.merges) {
      const [a = "", b = ""] = m.split(" ");
      const id = vocab[a + b] ?? -1;
      // both parts exist before the merged token, and new tokens appear in merge order
      expect(vocab[a]).toBeLessThan(id);
      expect(vocab[b]).toBeLessThan(id);
      if (id > lastNewId) {
        expect(id).toBe(lastNewId + 1);
        lastNewId = id;
      }
    }
    expect(lastNewId).toBe(VOCAB_SIZE - DEFAULT_SPECIAL_TOKENS.length - 1);
    expect(tokenizerJson.model.merges.slice(0, 3)).toEqual(["Ġ a", "Ġ t", "h e"]);
  });

  it("is deterministic to the byte", () => {
    const again = trainTokenizer(sampleCorpus(), { vocabSize: VOCAB_SIZE });
    expect(stringifyTokenizerJson(again.tokenizerJson)).toBe(stringifyTokenizerJson(tokenizerJson));
    expect(stringifyTokenizerConfig(again.tokenizerConfig)).toBe(stringifyTokenizerConfig(tokenizerConfig));
  });

  it("writes vocab in id order and valid JSON", () => {
    const text = stringifyTokenizerJson(tokenizerJson);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(tokenizerJson)));
    const vocabText = text.slice(text.indexOf('"vocab": {'), text.indexOf('"merges": ['));
    const ids = [...vocabText.matchAll(/^ {6}".*": (\d+),?$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: VOCAB_SIZE }, (_, i) => i));
  });

  it.each(STRINGS)("gives the same ids as @huggingface/tokenizers and round-trips %j", (text) => {
    const plain = ours.encode(text, { addSpecial: false });
    expect(plain).toEqual(reference.encode(text, { add_special_tokens: false }).ids);
    const withBos = ours.encode(text);
    expect(withBos).toEqual(reference.encode(text).ids);
    expect(withBos[0]).toBe(ours.bosId);
    expect(ours.decode(plain)).toBe(text);
    if (plain.length > 0) expect(reference.decode(plain)).toBe(text);
  });

  it("compresses text it was trained on", () => {
    const text = "The gateway routes each request to the model that fits it best.";
    expect(ours.encode(text, { addSpecial: false }).length).toBeLessThan(Buffer.byteLength(text) / 2);
  });

  it("renders the chat template with our tokenizer: plain paragraphs a base model continues", () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi!" },
      { role: "assistant", content: "Hello." },
      { role: "user", content: "Bye?" },
    ];
    const text = ours.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(text).toBe("Be brief.\n\nHi!\n\nHello.\n\nBye?\n\n");
    expect(ours.applyChatTemplate(messages.slice(1, 2), { addGenerationPrompt: false })).toBe("Hi!\n\n");
    expect(() => ours.applyChatTemplate([{ role: "tool", content: "x" }])).toThrow(/unsupported role/);
    // no special token appears: the model never saw one in training
    const ids = ours.encode(text, { addSpecial: false, parseSpecial: true });
    const specials = new Set(tokenizerJson.added_tokens.map((t) => t.id));
    expect(ids.some((id) => specials.has(id))).toBe(false);
    expect(ids).toEqual(reference.encode(text, { add_special_tokens: false }).ids);
  });

  it("exposes the special tokens to the loader", () => {
    const idOf = (t: string) => tokenizerJson.model.vocab[t] ?? -1;
    expect(ours.bosId).toBe(idOf("<|bos|>"));
    expect(ours.addBos).toBe(true);
    expect(ours.eosIds).toEqual([idOf("<|eos|>"), idOf("<|end|>")]);
    for (const t of DEFAULT_SPECIAL_TOKENS) expect(ours.isSpecial(idOf(t))).toBe(true);
    expect(ours.decode([idOf("<|user|>"), ...ours.encode("x", { addSpecial: false })], { skipSpecial: true })).toBe(
      "x",
    );
    expect(tokenizerConfig).toMatchObject({
      bos_token: "<|bos|>",
      eos_token: "<|eos|>",
      pad_token: "<|pad|>",
      add_bos_token: true,
      model_max_length: 1024,
    });
  });

  it("saves files that load from a directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tritgate-tok-"));
    await saveTokenizer(dir, trained);
    const loaded = await loadTokenizerDir(dir);
    for (const s of STRINGS) expect(loaded.encode(s)).toEqual(ours.encode(s));
    expect(await readFile(join(dir, "tokenizer.json"), "utf8")).toBe(stringifyTokenizerJson(tokenizerJson));
  });

  it("validates options", () => {
    expect(() => trainTokenizer(["x"], { vocabSize: 100 })).toThrow(/vocabSize/);
    expect(() => trainTokenizer(["x"], { vocabSize: 300, specialTokens: ["<|bos|>", "<|eos|>"] })).toThrow(/<\|pad\|>/);
    expect(() =>
      trainTokenizer(["x"], { vocabSize: 300, specialTokens: ["<|bos|>", "<|eos|>", "<|eos|>", "<|pad|>"] }),
    ).toThrow(/duplicate/);
  });
});
