// GPT-2 pre-tokenization and word counting for BPE training.

import { GPT2_PATTERN } from "../../engines/tokenizer/pretokenize.js";

/** The GPT-2 split pattern (what tokenizer.json's ByteLevel pre-tokenizer applies when use_regex is true). */
export { GPT2_PATTERN };

/** Splits text into GPT-2 pre-tokens. The pattern matches every character, so the pieces concatenate to `text`. */
export function preTokenize(text: string): string[] {
  const re = new RegExp(GPT2_PATTERN, "gu");
  const out: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[0]);
  return out;
}

export interface WordCounts {
  /** Pre-token → occurrences, in first-seen order. */
  counts: Map<string, number>;
  /** Total pre-tokens seen. */
  total: number;
}

/** Counts pre-tokens over all texts (each text separately, so no piece spans two documents). */
export function countWords(texts: Iterable<string>, into: WordCounts = { counts: new Map(), total: 0 }): WordCounts {
  const re = new RegExp(GPT2_PATTERN, "gu");
  const { counts } = into;
  for (const text of texts) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const w = m[0];
      counts.set(w, (counts.get(w) ?? 0) + 1);
      into.total++;
    }
  }
  return into;
}
