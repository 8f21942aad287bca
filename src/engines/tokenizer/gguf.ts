import { parseMerges, RankBpe } from "./bpe.js";
import { fromByteLevel, parseByteToken, toByteLevel, utf8 } from "./bytes.js";
import { BaseTokenizer, endOfGenerationIds, type TokenizerParts } from "./core.js";
import { compilePattern, patternForGGUFPre, splitIsolated } from "./pretokenize.js";
import { type SpecialEntry, SpecialSplitter } from "./special.js";
import { ScoreBpe } from "./spm.js";
import { type GGUFVocab, TOKEN_TYPE, type Tokenizer } from "./types.js";

/** GGUF vocabulary plus the one optional key the interface leaves out. */
export interface GGUFVocabExtras extends GGUFVocab {
  /** tokenizer.ggml.add_space_prefix; defaults to true for "llama" vocabularies. */
  addSpacePrefix?: boolean;
}

export function tokenizerFromGGUF(vocab: GGUFVocabExtras): Tokenizer {
  const { tokens } = vocab;
  if (!Array.isArray(tokens) || tokens.length === 0) throw new Error("tokenizer: GGUF vocabulary has no tokens");
  tokens.forEach((t, i) => {
    if (typeof t !== "string") throw new Error(`tokenizer: GGUF token ${i} is not a string`);
  });
  for (const [name, list] of [
    ["scores", vocab.scores],
    ["tokenTypes", vocab.tokenTypes],
  ] as const) {
    if (list !== undefined && list.length !== tokens.length) {
      throw new Error(`tokenizer: GGUF ${name} has ${list.length} entries for ${tokens.length} tokens`);
    }
  }
  switch (vocab.model) {
    case "gpt2":
      return new BaseTokenizer(byteLevelParts(vocab));
    case "llama":
      return new BaseTokenizer(sentencePieceParts(vocab));
    default:
      throw new Error(
        `tokenizer: unsupported GGUF tokenizer model ${JSON.stringify(vocab.model)} (supported: "gpt2", "llama")`,
      );
  }
}

interface Common {
  types: (id: number) => number;
  validId: (id: number | undefined) => number | undefined;
  special: Set<number>;
  verbatim: Set<number>;
  splitter: SpecialSplitter;
  bosId: number | undefined;
  eosIds: number[];
}

function common(vocab: GGUFVocab, verbatimTypes: readonly number[]): Common {
  const { tokens } = vocab;
  const types = (id: number) => vocab.tokenTypes?.[id] ?? TOKEN_TYPE.normal;
  // out-of-range ids in metadata are treated as absent rather than failing the whole model load
  const validId = (id: number | undefined) =>
    id !== undefined && Number.isInteger(id) && id >= 0 && id < tokens.length ? id : undefined;
  const special = new Set<number>();
  const verbatim = new Set<number>();
  const entries: SpecialEntry[] = [];
  tokens.forEach((text, id) => {
    const type = types(id);
    if (type === TOKEN_TYPE.control) special.add(id);
    if (verbatimTypes.includes(type)) verbatim.add(id);
    // llama.cpp matches user-defined tokens even when special-token parsing is off, and control
    // and unknown tokens (`<unk>` too) when it is on
    if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.userDefined || type === TOKEN_TYPE.unknown) {
      entries.push({ content: text, id, always: type === TOKEN_TYPE.userDefined });
    }
  });
  const bosId = validId(vocab.bosId);
  const eosId = validId(vocab.eosId);
  const eotId = validId(vocab.eotId);
  for (const id of [bosId, eosId, eotId, validId(vocab.paddingId)]) if (id !== undefined) special.add(id);
  const eosIds = [eosId, eotId, ...endOfGenerationIds(tokens, special)].filter((id) => id !== undefined);
  return { types, validId, special, verbatim, splitter: new SpecialSplitter(entries), bosId, eosIds };
}

function finish(vocab: GGUFVocab, c: Common, defaultAddBos: boolean) {
  const addBos = (vocab.addBos ?? defaultAddBos) && c.bosId !== undefined;
  const eosId = c.validId(vocab.eosId);
  return {
    tokens: vocab.tokens,
    verbatim: c.verbatim,
    special: c.special,
    splitter: c.splitter,
    bosId: c.bosId,
    eosIds: c.eosIds,
    prefixIds: addBos && c.bosId !== undefined ? [c.bosId] : [],
    suffixIds: vocab.addEos && eosId !== undefined ? [eosId] : [],
    chatTemplate: vocab.chatTemplate,
    bosToken: c.bosId === undefined ? undefined : vocab.tokens[c.bosId],
    eosToken: eosId === undefined ? undefined : vocab.tokens[eosId],
  };
}

function byteLevelParts(vocab: GGUFVocabExtras): TokenizerParts {
  const c = common(vocab, [TOKEN_TYPE.control, TOKEN_TYPE.userDefined]);
  if (!vocab.merges) throw new Error('tokenizer: GGUF "gpt2" vocabulary has no tokenizer.ggml.merges');
  const pieces = new Map<string, number>();
  vocab.tokens.forEach((text, id) => {
    if (c.types(id) !== TOKEN_TYPE.control && !pieces.has(text)) pieces.set(text, id);
  });
  const pre = vocab.pre ?? "default";
  const llama3 = pre === "llama-bpe" || pre === "llama3" || pre === "llama-v3";
  const bpe = new RankBpe({
    vocab: pieces,
    merges: parseMerges(vocab.merges),
    // llama.cpp enables ignore_merges for the Llama-3 pre-tokenizer, matching its tokenizer.json
    ignoreMerges: llama3,
    unkId: c.validId(vocab.unknownId),
  });
  const regex = compilePattern(patternForGGUFPre(pre));
  const prefixSpace = vocab.addSpacePrefix === true;
  return {
    // llama.cpp defaults add_bos on for Llama-3 vocabularies (their tokenizer.json template adds it too)
    ...finish(vocab, c, llama3),
    encodeText(text: string, first: boolean) {
      const input = prefixSpace && first && !text.startsWith(" ") ? ` ${text}` : text;
      const out: number[] = [];
      for (const word of splitIsolated(input, regex)) out.push(...bpe.encodeWord(toByteLevel(word)));
      return out;
    },
    pieceBytes: (id) => fromByteLevel(vocab.tokens[id] ?? ""),
    stripLeadingSpace: prefixSpace,
  };
}

function sentencePieceParts(vocab: GGUFVocabExtras): TokenizerParts {
  const c = common(vocab, [TOKEN_TYPE.control, TOKEN_TYPE.unknown]);
  const pieces = new Map<string, number>();
  const byteIds: (number | undefined)[] = new Array(256);
  vocab.tokens.forEach((text, id) => {
    const type = c.types(id);
    if ((type === TOKEN_TYPE.normal || type === TOKEN_TYPE.userDefined) && !pieces.has(text)) pieces.set(text, id);
    const byte = parseByteToken(text);
    // prefer entries typed as byte tokens; untyped vocabularies still get fallback from the <0xXX> spelling
    if (byte !== undefined && (type === TOKEN_TYPE.byte || byteIds[byte] === undefined)) byteIds[byte] = id;
  });
  let unkId = c.validId(vocab.unknownId);
  if (unkId === undefined) {
    const found = vocab.tokenTypes?.indexOf(TOKEN_TYPE.unknown) ?? -1;
    if (found >= 0) unkId = found;
  }
  // llama.cpp merges two symbols whenever their concatenation is the text of any vocabulary
  // entry, whatever its type: plain text spelling "</s>" becomes the control token when the
  // vocabulary has pieces that build it ("</" + "s>"), even with special-token parsing off.
  // Ids sent to the model must be llama.cpp's, so tritgate does the same.
  const mergeable = new Map<string, number>();
  vocab.tokens.forEach((text, id) => {
    if (text.length > 0 && !mergeable.has(text)) mergeable.set(text, id);
  });
  const spm = new ScoreBpe({ pieces: mergeable, scores: vocab.scores ?? [], byteIds, unkId });
  const prefixSpace = vocab.addSpacePrefix ?? true;
  return {
    ...finish(vocab, c, true),
    // like llama.cpp, every text run (at the start or after a special token) gets the dummy-prefix space
    encodeText(text: string) {
      if (text.length === 0) return [];
      return spm.encode((prefixSpace ? ` ${text}` : text).replaceAll(" ", "\u2581"));
    },
    pieceBytes(id) {
      const text = vocab.tokens[id] ?? "";
      const byte = c.types(id) === TOKEN_TYPE.byte || !pieces.has(text) ? parseByteToken(text) : undefined;
      return byte === undefined ? utf8(text.replaceAll("\u2581", " ")) : Uint8Array.of(byte);
    },
    stripLeadingSpace: prefixSpace,
  };
}
