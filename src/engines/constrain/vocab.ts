/**
 * The vocabulary as a byte trie, built once per tokenizer, so a mask step advances the recognizer
 * once per shared prefix instead of once per token byte. Nodes are stored in preorder with a skip
 * pointer past each subtree: a dead prefix skips its whole subtree in one move.
 *
 * Tokens that are complete UTF-8 without a quote, backslash or control byte ("plain") inside a string
 * only add characters; they are kept out of a second trie, so inside a string the mask is the plain
 * tokens short enough for the room left (all of them, for an unbounded string) plus a walk over the
 * few other tokens, not a walk over the whole vocabulary.
 */
import type { Tokenizer } from "../tokenizer/index.js";
import { advance, type RecognizerState } from "./recognizer.js";
import { utf8Lead } from "./utf8.js";

/** A preorder trie: node 0 is the root (empty prefix). */
export interface ByteTrie {
  readonly size: number;
  readonly depth: Int32Array;
  readonly byte: Uint8Array;
  /** index of the first node after this node's subtree */
  readonly skip: Int32Array;
  /** first token ending at the node, -1 for none; further ones through `nextToken` */
  readonly firstToken: Int32Array;
  readonly nextToken: Int32Array;
}

export interface VocabIndex {
  /** logits length the mask covers (the engine's vocabulary, which may exceed the tokenizer's) */
  readonly vocabSize: number;
  readonly eosIds: readonly number[];
  readonly all: ByteTrie;
  /** every token but the plain ones */
  readonly nonPlain: ByteTrie;
  /** plain[id] = 1 for plain tokens */
  readonly plain: Uint8Array;
  readonly plainCount: number;
  /** characters of each plain token (0 for others) */
  readonly plainChars: Uint16Array;
  /** the plain tokens, fewest characters first */
  readonly plainByChars: Int32Array;
  readonly maxPlainChars: number;
  readonly tokenBytes: readonly (Uint8Array | undefined)[];
}

/**
 * Special tokens and tokens without bytes are never allowed (they write no output text); end-of-sequence
 * ids are allowed separately, when the output is complete.
 */
export function buildVocabIndex(tokenizer: Tokenizer, vocabSize: number): VocabIndex {
  const n = Math.min(vocabSize, tokenizer.vocabSize);
  const tokenBytes: (Uint8Array | undefined)[] = new Array(n);
  const plain = new Uint8Array(vocabSize);
  const ids: number[] = [];
  const other: number[] = [];
  const plainChars = new Uint16Array(vocabSize);
  const plainIds: number[] = [];
  for (let id = 0; id < n; id++) {
    if (tokenizer.isSpecial(id)) continue;
    const bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 0) continue;
    tokenBytes[id] = bytes;
    ids.push(id);
    if (isPlain(bytes)) {
      plain[id] = 1;
      plainIds.push(id);
      // UTF-8 continuation bytes are the ones that start no character
      let chars = 0;
      for (const b of bytes) if ((b & 0xc0) !== 0x80) chars++;
      plainChars[id] = Math.min(chars, 0xffff);
    } else other.push(id);
  }
  plainIds.sort((a, b) => plainChars[a]! - plainChars[b]!);
  return {
    vocabSize,
    eosIds: tokenizer.eosIds.filter((id) => id < vocabSize),
    all: buildTrie(ids, tokenBytes),
    nonPlain: buildTrie(other, tokenBytes),
    plain,
    plainCount: plainIds.length,
    plainChars,
    plainByChars: Int32Array.from(plainIds),
    maxPlainChars: plainIds.length === 0 ? 0 : plainChars[plainIds[plainIds.length - 1]!]!,
    tokenBytes,
  };
}

/** Complete, valid UTF-8 with no byte a JSON string must escape. */
export function isPlain(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (b < 0x20 || b === 0x22 || b === 0x5c) return false;
      i++;
      continue;
    }
    const lead = utf8Lead(b);
    if (lead === undefined) return false;
    const { need } = lead;
    let { lo, hi } = lead;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < lo || c > hi) return false;
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return true;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Sorted byte strings give the preorder directly: each token adds the nodes past its common prefix with the previous one. */
export function buildTrie(ids: readonly number[], bytesOf: readonly (Uint8Array | undefined)[]): ByteTrie {
  const sorted = [...ids].sort((a, b) => compareBytes(bytesOf[a]!, bytesOf[b]!));
  let total = 1;
  let prev: Uint8Array = new Uint8Array(0);
  const lcps: number[] = [];
  for (const id of sorted) {
    const bytes = bytesOf[id]!;
    let lcp = 0;
    while (lcp < prev.length && lcp < bytes.length && prev[lcp] === bytes[lcp]) lcp++;
    lcps.push(lcp);
    total += bytes.length - lcp;
    prev = bytes;
  }
  const depth = new Int32Array(total);
  const byte = new Uint8Array(total);
  const skip = new Int32Array(total);
  const firstToken = new Int32Array(total).fill(-1);
  const nextToken = new Int32Array(bytesOf.length).fill(-1);
  // path[d] = node at depth d on the current path
  const path: number[] = [0];
  let count = 1;
  sorted.forEach((id, k) => {
    const bytes = bytesOf[id]!;
    const lcp = lcps[k]!;
    path.length = lcp + 1;
    for (let d = lcp; d < bytes.length; d++) {
      depth[count] = d + 1;
      byte[count] = bytes[d]!;
      path.push(count);
      count++;
    }
    const end = path[bytes.length]!;
    nextToken[id] = firstToken[end]!;
    firstToken[end] = id;
  });
  // skip: the next node whose depth is not deeper
  const open: number[] = [];
  for (let i = 0; i < total; i++) {
    while (open.length > 0 && depth[open[open.length - 1]!]! >= depth[i]!) skip[open.pop()!] = i;
    open.push(i);
  }
  for (const i of open) skip[i] = total;
  return { size: total, depth, byte, skip, firstToken, nextToken };
}

/**
 * Marks in `allowed` every token of `trie` whose bytes the recognizer accepts from `state`; returns how
 * many it marked. `states` is scratch space (one state per depth).
 */
export function walkTrie(
  trie: ByteTrie,
  state: RecognizerState,
  allowed: Uint8Array,
  states: (RecognizerState | null)[],
): number {
  let marked = 0;
  states[0] = state;
  let i = 1;
  while (i < trie.size) {
    const d = trie.depth[i]!;
    const next = advance(states[d - 1]!, trie.byte[i]!);
    if (next === null) {
      i = trie.skip[i]!;
      continue;
    }
    states[d] = next;
    for (let id = trie.firstToken[i]!; id !== -1; id = trie.nextToken[id]!) {
      if (allowed[id] === 0) {
        allowed[id] = 1;
        marked++;
      }
    }
    i++;
  }
  return marked;
}
