/**
 * The records a Hugging Face tokenizer.json is written with, shared by every writer (the trainer,
 * the GGUF → ONNX twin export, test kits); `huggingface.ts` reads the same format.
 */

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A BPE `model` section: merges as "left right" strings or [left, right] pairs, rank = index. */
export interface BpeModelJson<Merge extends string | readonly [string, string] = string> {
  type: "BPE";
  dropout: null;
  unk_token: null;
  continuing_subword_prefix: null;
  end_of_word_suffix: null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  vocab: Record<string, number>;
  merges: Merge[];
}

/** An added token matched as a whole string before pre-tokenization. */
export function addedTokenJson(id: number, content: string, special: boolean): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** A byte-level BPE model (no unknown token, no byte fallback: every byte has a token). */
export function byteLevelBpeModel<Merge extends string | readonly [string, string]>(
  vocab: Record<string, number>,
  merges: readonly Merge[],
  options: { ignoreMerges?: boolean } = {},
): BpeModelJson<Merge> {
  return {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: options.ignoreMerges ?? false,
    vocab,
    merges: [...merges],
  };
}
