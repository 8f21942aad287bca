// Test-only helpers: a tiny BPE trainer so cross-check tests use realistic merge tables without fixture files,
// and the tiny Hugging Face tokenizer the ONNX and converter suites write beside their models.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { byteToChar, toByteLevel } from "./bytes.js";
import { addedTokenJson, byteLevelBpeModel } from "./hf-json.js";

export interface TrainedBpe {
  vocab: Record<string, number>;
  merges: string[];
}

/** Greedy frequency-count BPE over pre-split words; ties break lexicographically so the result is stable. */
export function trainBpe(words: readonly string[], alphabet: readonly string[], numMerges: number): TrainedBpe {
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const ch of alphabet) if (!(ch in vocab)) vocab[ch] = next++;
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const seqs = [...counts].map(([w, n]) => ({ symbols: [...w].filter((c) => c in vocab), n }));
  const merges: string[] = [];
  for (let m = 0; m < numMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of seqs) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split(" ") as [string, string];
    merges.push(best);
    if (!(a + b in vocab)) vocab[a + b] = next++;
    for (const seq of seqs) {
      const out: string[] = [];
      for (let i = 0; i < seq.symbols.length; i++) {
        if (seq.symbols[i] === a && seq.symbols[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(seq.symbols[i] as string);
      }
      seq.symbols = out;
    }
  }
  return { vocab, merges };
}

export const BYTE_ALPHABET: readonly string[] = Array.from({ length: 256 }, (_, b) => byteToChar(b));

export const CORPUS = [
  "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!",
  "Hello world, hello there. It's a test: they're testing what we've built, isn't it?",
  "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade, \u00fcber Stra\u00dfe, \u00e0 bient\u00f4t.",
  "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u6211\u4eec\u559c\u6b22\u673a\u5668\u5b66\u4e60\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002",
  "Emoji time \ud83d\ude00\ud83c\udf89\ud83d\udc4d\ud83c\udffd and more \ud83d\ude80 rockets \ud83d\ude80\ud83d\ude80.",
  "Numbers 12345 and 2024-06-01, prices $3.50 or 1,000,000 units.",
  "def main():\n    return 42\n\n\nif __name__ == '__main__':\n\tmain()\n",
  "   leading spaces and trailing spaces   \n\n  multiple   spaces\there",
].join("\n");

/** Pre-splits with a regex and maps each piece to the byte-level alphabet, as a ByteLevel trainer would. */
export function byteLevelWords(text: string, regex: RegExp): string[] {
  return [...text.matchAll(regex)].map((m) => toByteLevel(m[0]));
}

export const SAMPLES: readonly string[] = [
  "",
  "a",
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "Caf\u00e9 na\u00efve \u00e0 bient\u00f4t, \u00dcBER stra\u00dfe",
  "emoji \ud83d\ude00\ud83d\udc4d\ud83c\udffd family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 flag \ud83c\uddeb\ud83c\uddf7",
  "\u4f60\u597d\u4e16\u754c \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4",
  "  two leading, three trailing   ",
  "tabs\t\tand\nnewlines\n\n\nand \r\n crlf",
  "I'VE got 1234567 numbers, they're 3.14159!",
  "    indented code()\n        deeper\n",
  "mixed \u0645\u0631\u062d\u0628\u0627 \u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435 \u03b3\u03b5\u03b9\u03ac",
  "zero\u200bwidth and nbsp\u00a0here",
];

// ── a tiny Llama-3-style tokenizer.json (byte-level BPE, a few merges, four added tokens) ──

export const TINY_MERGES: ReadonlyArray<readonly [string, string]> = [
  ["Ġ", "t"],
  ["h", "e"],
  ["Ġt", "he"],
  ["i", "n"],
  ["Ġ", "c"],
  ["a", "t"],
];
export const TINY_SPECIAL = { bos: 262, eos: 263, eot: 264, reserved: 280 } as const;
export const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const TINY_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|eot_id|>{% endfor %}";

/** Writes tokenizer.json and tokenizer_config.json for a byte-level BPE of `vocab` ids into `dir`. */
export function writeTinyTokenizer(dir: string, spec: { vocab: number; pairMerges?: boolean }): void {
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[byteToChar(b)] = b;
  TINY_MERGES.forEach(([a, b], i) => {
    vocab[a + b] = 256 + i;
  });
  const added = [
    { id: TINY_SPECIAL.bos, content: "<|begin_of_text|>", special: true },
    { id: TINY_SPECIAL.eos, content: "<|end_of_text|>", special: true },
    { id: TINY_SPECIAL.eot, content: "<|eot_id|>", special: true },
    { id: TINY_SPECIAL.reserved, content: "<|reserved|>", special: false },
  ];
  const tokenizer = {
    version: "1.0",
    added_tokens: added.map((t) => addedTokenJson(t.id, t.content, t.special)),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: byteLevelBpeModel(
      vocab,
      TINY_MERGES.map(([a, b]) => (spec.pairMerges ? ([a, b] as const) : `${a} ${b}`)),
      { ignoreMerges: true },
    ),
  };
  const tokenizerConfig = {
    add_bos_token: true,
    bos_token: "<|begin_of_text|>",
    eos_token: { content: "<|eot_id|>", special: true },
    chat_template: TINY_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(
      added.map((t) => [String(t.id), { content: t.content, special: t.special }]),
    ),
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
}
