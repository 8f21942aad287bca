// Byte-level BPE merge learning.
//
// Words (unique pre-tokens) are arrays of symbol ids; symbol ids 0..255 are the bytes. The trainer keeps
//   pairCount: (left, right) → occurrences weighted by word frequency,
//   pairWords: (left, right) → indices of the words that contain the pair (may hold stale or repeated entries),
//   a max-heap of (count, pair) with lazy invalidation.
// Merging the best pair only rewrites the words listed for it, and updates the counts of the pairs those words
// contain. Counts of pairs that do not involve the new token can only go down, so a popped heap entry whose count is
// stale is an upper bound: it is pushed back with its current count, and the first popped entry whose count is
// current is the true maximum. Pairs involving the new token are pushed once, with their final counts, at the end of
// the step.
//
// Ties on count go to the lexicographically smallest pair: left token first, then right token, comparing the
// byte-level strings (as they appear in tokenizer.json) by code point.

import { BYTE_TO_CHAR } from "../../engines/tokenizer/bytes.js";

export interface LearnBpeOptions {
  /** Stop when the vocabulary (256 bytes + distinct merged tokens) reaches this size. */
  maxTokens: number;
  /** Stop when the best pair occurs fewer times than this. Default 2. */
  minFrequency?: number;
}

export interface LearnedBpe {
  /** Byte-level token strings by id: the 256 bytes in byte order, then merged tokens in the order learned. */
  tokens: string[];
  /** Merges in the order learned (rank = index), as byte-level strings. */
  merges: [string, string][];
  /** Occurrences of each merged pair when it was merged (parallel to merges). */
  mergeCounts: number[];
}

// pair key = left * KEY_BASE + right; exact in a double for ids below 2^20
const KEY_BASE = 2 ** 20;
const MAX_TOKENS = KEY_BASE;

const encoder = new TextEncoder();

export function learnBpe(wordCounts: ReadonlyMap<string, number>, options: LearnBpeOptions): LearnedBpe {
  const { maxTokens } = options;
  const minFrequency = Math.max(1, options.minFrequency ?? 2);
  if (!Number.isInteger(maxTokens) || maxTokens < 256 || maxTokens > MAX_TOKENS) {
    throw new Error(`learnBpe: maxTokens must be an integer in [256, ${MAX_TOKENS}], got ${maxTokens}`);
  }

  const tokens: string[] = [...BYTE_TO_CHAR];
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));

  const words: number[][] = [];
  const freq: number[] = [];
  for (const [word, count] of wordCounts) {
    if (count <= 0) continue;
    const bytes = encoder.encode(word);
    // single bytes have no pairs and never change
    if (bytes.length < 2) continue;
    words.push(Array.from(bytes));
    freq.push(count);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  words.forEach((sym, w) => {
    const f = freq[w] ?? 0;
    for (let i = 0; i + 1 < sym.length; i++) {
      const key = (sym[i] ?? 0) * KEY_BASE + (sym[i + 1] ?? 0);
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      const list = pairWords.get(key);
      if (list === undefined) pairWords.set(key, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  });

  const heap = new PairHeap(tokens);
  for (const [key, count] of pairCount) heap.push(count, key);

  const merges: [string, string][] = [];
  const mergeCounts: number[] = [];
  // stamp[w] = the step that last rewrote word w, so a word listed twice for a pair is rewritten once
  const stamp = new Int32Array(words.length).fill(-1);
  const add = (key: number, delta: number) => pairCount.set(key, (pairCount.get(key) ?? 0) + delta);

  for (let step = 0; tokens.length < maxTokens && heap.size > 0; ) {
    const top = heap.pop();
    const current = pairCount.get(top.key) ?? 0;
    if (current !== top.count) {
      if (current > 0) heap.push(current, top.key);
      continue;
    }
    if (current < minFrequency) break;

    const a = Math.floor(top.key / KEY_BASE);
    const b = top.key - a * KEY_BASE;
    const leftText = tokens[a] ?? "";
    const rightText = tokens[b] ?? "";
    const merged = leftText + rightText;
    let newId = idOf.get(merged);
    if (newId === undefined) {
      newId = tokens.length;
      tokens.push(merged);
      idOf.set(merged, newId);
    }
    merges.push([leftText, rightText]);
    mergeCounts.push(current);

    const touched = new Set<number>();
    for (const w of pairWords.get(top.key) ?? []) {
      if (stamp[w] === step) continue;
      stamp[w] = step;
      const sym = words[w];
      if (sym === undefined) continue;
      const out: number[] = [];
      let found = false;
      for (let i = 0; i < sym.length; ) {
        if (sym[i] === a && sym[i + 1] === b && i + 1 < sym.length) {
          out.push(newId);
          i += 2;
          found = true;
        } else {
          out.push(sym[i] ?? 0);
          i++;
        }
      }
      if (!found) continue;
      const f = freq[w] ?? 0;
      for (let i = 0; i + 1 < sym.length; i++) add((sym[i] ?? 0) * KEY_BASE + (sym[i + 1] ?? 0), -f);
      for (let i = 0; i + 1 < out.length; i++) {
        const x = out[i] ?? 0;
        const y = out[i + 1] ?? 0;
        const key = x * KEY_BASE + y;
        add(key, f);
        if (x === newId || y === newId) {
          touched.add(key);
          const list = pairWords.get(key);
          if (list === undefined) pairWords.set(key, [w]);
          else if (list[list.length - 1] !== w) list.push(w);
        }
      }
      words[w] = out;
    }
    pairWords.delete(top.key);
    pairCount.delete(top.key);
    for (const key of touched) {
      const count = pairCount.get(key) ?? 0;
      if (count > 0) heap.push(count, key);
    }
    step++;
  }
  return { tokens, merges, mergeCounts };
}

/** Max-heap of (count, pair key); ties go to the lexicographically smaller pair. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  constructor(private readonly tokens: readonly string[]) {}

  get size(): number {
    return this.keys.length;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    this.up(this.keys.length - 1);
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0] ?? 0, key: this.keys[0] ?? 0 };
    const lastCount = this.counts.pop() ?? 0;
    const lastKey = this.keys.pop() ?? 0;
    if (this.keys.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      this.down(0);
    }
    return top;
  }

  /** Whether entry i should be above entry j. */
  private before(i: number, j: number): boolean {
    const ci = this.counts[i] ?? 0;
    const cj = this.counts[j] ?? 0;
    if (ci !== cj) return ci > cj;
    const ki = this.keys[i] ?? 0;
    const kj = this.keys[j] ?? 0;
    const ai = Math.floor(ki / KEY_BASE);
    const aj = Math.floor(kj / KEY_BASE);
    if (ai !== aj) return (this.tokens[ai] ?? "") < (this.tokens[aj] ?? "");
    return (this.tokens[ki - ai * KEY_BASE] ?? "") < (this.tokens[kj - aj * KEY_BASE] ?? "");
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i] ?? 0;
    this.counts[i] = this.counts[j] ?? 0;
    this.counts[j] = c;
    const k = this.keys[i] ?? 0;
    this.keys[i] = this.keys[j] ?? 0;
    this.keys[j] = k;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < n && this.before(l, best)) best = l;
      if (r < n && this.before(r, best)) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }
}
