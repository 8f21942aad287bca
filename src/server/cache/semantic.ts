/**
 * The semantic mode's index: for a request whose exact key misses, the stored answer to a chat whose
 * last user message is close enough in meaning, everything else being equal. Candidates are grouped
 * by a context key (the exact key's input with that message's text blanked: same tenant, tier,
 * parameters, earlier messages), so only the one message is compared, by the cosine similarity of
 * its embedding (engines/bitnet/embed.ts).
 *
 * Embeddings put a question and its negation side by side ("how do I enable X" and "how do I not
 * enable X" are 0.99 apart with the nano models' token embeddings, closer than most paraphrases):
 * the failure GPTCache #694 reports. So a candidate must also have the same guard, the negation words
 * and numbers of the message in order, and a question that differs in either is never matched,
 * however similar. The guard cannot catch an antonym ("disable"); only the threshold can.
 */
import type { TextEmbedder } from "../../engines/bitnet/index.js";

export interface SemanticProbe {
  readonly contextKey: string;
  readonly vector: Float32Array;
  readonly guard: string;
}

interface Candidate {
  readonly probe: SemanticProbe;
  /** the exact key its answer is stored under */
  readonly key: string;
}

/** Candidates kept per context; the oldest is dropped beyond it. */
const PER_CONTEXT = 64;

const NEGATIONS = new Set([
  "not",
  "no",
  "never",
  "none",
  "nothing",
  "nobody",
  "nowhere",
  "neither",
  "nor",
  "cannot",
  "without",
  "dont",
  "doesnt",
  "didnt",
  "isnt",
  "arent",
  "wasnt",
  "werent",
  "wont",
  "cant",
  "shouldnt",
  "wouldnt",
  "couldnt",
]);

/** The words that flip or quantify a question: negations (contractions included) and numbers, in order. */
export function negationGuard(text: string): string {
  const marks: string[] = [];
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}'’]+/gu) ?? []) {
    const bare = word.replace(/['’]/g, "");
    if (NEGATIONS.has(bare) || /n['’]t$/.test(word) || /^\p{N}+$/u.test(bare)) marks.push(bare);
  }
  return marks.join(" ");
}

export function semanticProbe(embedder: TextEmbedder, contextKey: string, text: string): SemanticProbe {
  return { contextKey, vector: embedder.embed(text), guard: negationGuard(text) };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

export class SemanticIndex {
  /** Map order is insertion order: the first context is the oldest */
  private readonly contexts = new Map<string, Candidate[]>();
  private count = 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.count;
  }

  add(probe: SemanticProbe, key: string): void {
    let list = this.contexts.get(probe.contextKey);
    if (!list) {
      list = [];
      this.contexts.set(probe.contextKey, list);
    }
    list.push({ probe, key });
    this.count++;
    if (list.length > PER_CONTEXT) {
      list.shift();
      this.count--;
    }
    for (const [context, oldest] of this.contexts) {
      if (this.count <= this.maxEntries) break;
      this.count -= oldest.length;
      this.contexts.delete(context);
    }
  }

  /**
   * The most similar candidate at `threshold` or above with the same guard whose answer is still
   * stored (`stored`); candidates whose answer is gone are dropped on the way.
   */
  nearest(
    probe: SemanticProbe,
    threshold: number,
    stored: (key: string) => boolean,
  ): { key: string; similarity: number } | null {
    const list = this.contexts.get(probe.contextKey);
    if (!list) return null;
    let best: { key: string; similarity: number } | null = null;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i]!;
      if (!stored(c.key)) {
        list.splice(i, 1);
        this.count--;
        continue;
      }
      if (c.probe.guard !== probe.guard) continue;
      const similarity = cosine(c.probe.vector, probe.vector);
      if (similarity >= threshold && (best === null || similarity > best.similarity)) best = { key: c.key, similarity };
    }
    return best;
  }
}
