import { byteTokenText, utf8 } from "./bytes.js";
import { mergeSymbols } from "./merge.js";

export interface RankBpeOptions {
  vocab: ReadonlyMap<string, number>;
  /** Pairs in rank order (index 0 merges first). */
  merges: readonly (readonly [string, string])[];
  /** Llama-3 style: a word that is itself a vocabulary entry is emitted without running merges. */
  ignoreMerges?: boolean;
  /** Characters missing from the vocabulary become their <0xXX> byte pieces. */
  byteFallback?: boolean;
  unkId?: number;
  /** Collapse consecutive unknown characters into one unk token. */
  fuseUnk?: boolean;
}

const CACHE_LIMIT = 50_000;

/** Parses merges given as "a b" strings or as [a, b] pairs (newer tokenizer.json files). */
export function parseMerges(merges: readonly unknown[]): [string, string][] {
  return merges.map((m, i) => {
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length === 2 && parts[0] && parts[1]) return [parts[0], parts[1]];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      return [m[0], m[1]];
    }
    throw new Error(`tokenizer: malformed merges[${i}] ${JSON.stringify(m)}: expected "left right" or [left, right]`);
  });
}

/** Byte-pair encoding where merges are applied by rank (GPT-2 / Llama-3 / Qwen, and HF SentencePiece exports). */
export class RankBpe {
  private readonly ranks = new Map<string, Map<string, number>>();
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly options: RankBpeOptions) {
    const { vocab, merges } = options;
    merges.forEach(([a, b], rank) => {
      for (const piece of [a, b, a + b]) {
        if (!vocab.has(piece)) {
          throw new Error(
            `tokenizer: merges[${rank}] "${a} ${b}" names ${JSON.stringify(piece)}, which is not in the vocabulary`,
          );
        }
      }
      let byLeft = this.ranks.get(a);
      if (!byLeft) {
        byLeft = new Map();
        this.ranks.set(a, byLeft);
      }
      // the first occurrence of a duplicated merge keeps its (better) rank
      if (!byLeft.has(b)) byLeft.set(b, rank);
    });
  }

  /** Encodes one pre-tokenized word (already in the model's alphabet). */
  encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids = this.encodeUncached(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private encodeUncached(word: string): number[] {
    const { vocab, ignoreMerges } = this.options;
    if (ignoreMerges) {
      const whole = vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const out: number[] = [];
    let run: string[] = [];
    let lastWasUnk = false;
    const flush = () => {
      if (run.length === 0) return;
      for (const piece of mergeSymbols(run, (l, r) => this.ranks.get(l)?.get(r))) out.push(vocab.get(piece) as number);
      run = [];
      lastWasUnk = false;
    };
    for (const ch of word) {
      if (vocab.has(ch)) {
        run.push(ch);
        continue;
      }
      // unknown characters split the word: no merge can span them (they are not vocabulary symbols)
      flush();
      const fallback = this.fallback(ch);
      if (fallback) {
        out.push(...fallback);
        lastWasUnk = false;
      } else if (this.options.unkId !== undefined && !(this.options.fuseUnk && lastWasUnk)) {
        out.push(this.options.unkId);
        lastWasUnk = true;
      }
    }
    flush();
    return out;
  }

  private fallback(ch: string): number[] | undefined {
    if (!this.options.byteFallback) return undefined;
    const ids: number[] = [];
    for (const b of utf8(ch)) {
      const id = this.options.vocab.get(byteTokenText(b));
      if (id === undefined) return undefined;
      ids.push(id);
    }
    return ids;
  }
}
