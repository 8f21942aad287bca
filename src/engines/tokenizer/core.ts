import { fromUtf8, utf8 } from "./bytes.js";
import { CHATML_TEMPLATE, ChatTemplate } from "./chat.js";
import type { SpecialSplitter } from "./special.js";
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";

/** Everything a vocabulary family contributes; BaseTokenizer supplies the shared encode/decode plumbing. */
export interface TokenizerParts {
  /** Vocabulary entry per id ("" for holes). */
  tokens: readonly string[];
  /** Encodes a run of text containing no special tokens; `first` is true for the run at the start of the input. */
  encodeText(text: string, first: boolean): number[];
  /** Bytes of an ordinary (model) token. */
  pieceBytes(id: number): Uint8Array;
  /** Ids whose bytes are their vocabulary text verbatim (control and special added tokens). */
  verbatim: ReadonlySet<number>;
  special: ReadonlySet<number>;
  splitter: SpecialSplitter;
  bosId: number | undefined;
  eosIds: readonly number[];
  /** Tokens added around the encoded text when addSpecial is set. */
  prefixIds: readonly number[];
  suffixIds: readonly number[];
  /** SentencePiece dummy prefix: decoding drops the leading space of the first piece. */
  stripLeadingSpace: boolean;
  chatTemplate: string | undefined;
  bosToken: string | undefined;
  eosToken: string | undefined;
}

const EMPTY = new Uint8Array(0);

export class BaseTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosIds: readonly number[];
  readonly addBos: boolean;
  private readonly bytesCache: (Uint8Array | undefined)[];
  private readonly template: ChatTemplate;

  constructor(private readonly parts: TokenizerParts) {
    this.vocabSize = parts.tokens.length;
    this.bosId = parts.bosId;
    this.eosIds = [...new Set(parts.eosIds)];
    this.addBos = parts.bosId !== undefined && parts.prefixIds[0] === parts.bosId;
    this.bytesCache = new Array(parts.tokens.length);
    this.template = new ChatTemplate(parts.chatTemplate ?? CHATML_TEMPLATE, {
      bosToken: parts.bosToken,
      eosToken: parts.eosToken,
    });
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const parseSpecial = options.parseSpecial ?? true;
    const out: number[] = addSpecial ? [...this.parts.prefixIds] : [];
    let first = true;
    for (const fragment of this.parts.splitter.split(text, parseSpecial)) {
      if (fragment.kind === "token") out.push(fragment.id);
      else for (const id of this.parts.encodeText(fragment.text, first)) out.push(id);
      first = false;
    }
    if (addSpecial) out.push(...this.parts.suffixIds);
    return out;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let first = true;
    for (const id of ids) {
      if (options.skipSpecial && this.parts.special.has(id)) continue;
      let bytes = this.tokenBytes(id);
      if (first && this.parts.stripLeadingSpace && !this.parts.verbatim.has(id) && bytes[0] === 0x20) {
        bytes = bytes.subarray(1);
      }
      first = false;
      chunks.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return fromUtf8(all);
  }

  tokenText(id: number): string {
    return this.parts.tokens[id] ?? "";
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return EMPTY;
    let bytes = this.bytesCache[id];
    if (!bytes) {
      const text = this.parts.tokens[id] ?? "";
      bytes = this.parts.verbatim.has(id) ? utf8(text) : this.parts.pieceBytes(id);
      this.bytesCache[id] = bytes;
    }
    return bytes;
  }

  isSpecial(id: number): boolean {
    return this.parts.special.has(id);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    return this.template.render(messages, options.addGenerationPrompt ?? false, options.tools);
  }
}

// Names of end-of-generation markers across model families; a vocabulary's special tokens with these texts are
// added to eosIds so chat models stop at end-of-turn even when their metadata only names the document EOS.
const END_OF_GENERATION = new Set([
  "<|endoftext|>",
  "<|im_end|>",
  "<|eot_id|>",
  "<|eom_id|>",
  "<|end_of_text|>",
  "<|end|>",
  "<end_of_turn>",
  "<|return|>",
  "<|call|>",
  "<｜end▁of▁sentence｜>",
  "</s>",
]);

export function endOfGenerationIds(tokens: readonly string[], special: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (const id of special) if (END_OF_GENERATION.has(tokens[id] ?? "")) out.push(id);
  return out.sort((a, b) => a - b);
}
