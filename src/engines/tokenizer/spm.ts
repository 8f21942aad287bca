import { utf8 } from "./bytes.js";
import { mergeSymbols } from "./merge.js";

export interface ScoreBpeOptions {
  /** Pieces that may be produced by merging, and their ids. */
  pieces: ReadonlyMap<string, number>;
  scores: readonly number[];
  /** Token id of each byte's <0xXX> piece, when the vocabulary has one. */
  byteIds: readonly (number | undefined)[];
  unkId?: number;
}

/**
 * SentencePiece BPE as stored in llama-family GGUF files: there is no merge list, so adjacent symbols merge when
 * their concatenation is a vocabulary piece, highest score first. Input must already use "▁" for spaces.
 */
export class ScoreBpe {
  constructor(private readonly options: ScoreBpeOptions) {}

  encode(text: string): number[] {
    const { pieces, scores, byteIds, unkId } = this.options;
    const symbols = mergeSymbols([...text], (l, r) => {
      const id = pieces.get(l + r);
      // negate: mergeSymbols pops the lowest priority first, SentencePiece wants the highest score
      return id === undefined ? undefined : -(scores[id] ?? 0);
    });
    const out: number[] = [];
    for (const s of symbols) {
      const id = pieces.get(s);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // a symbol left unmerged and absent from the vocabulary is a single character: spell it in bytes, or unk
      const bytes = [...utf8(s)].map((b) => byteIds[b]);
      if (bytes.every((id) => id !== undefined)) out.push(...(bytes as number[]));
      else if (unkId !== undefined) out.push(unkId);
    }
    return out;
  }
}
