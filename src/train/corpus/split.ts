// Deterministic train/validation/test split by document, with a manifest for the model card.

import { createHash } from "node:crypto";
import type { Document } from "./load.js";

export type SplitName = "train" | "validation" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "validation", "test"];

export interface SplitOptions {
  /** Any string or integer; the same seed over the same documents gives the same split. */
  seed: string | number;
  /** Fraction of documents in the validation split. Default 0.05. */
  validation?: number;
  /** Fraction of documents in the test split. Default 0.05. */
  test?: number;
}

/** Separator placed between document texts when hashing a split (recorded in the manifest). */
export const DOCUMENT_SEPARATOR = "\n\n";

export interface SplitStats {
  documents: number;
  ids: string[];
  /** UTF-8 bytes of the document texts (separators excluded). */
  bytes: number;
  /** Unicode code points of the document texts (separators excluded). */
  characters: number;
  /** SHA-256 (hex) of the UTF-8 texts, in `ids` order, joined by the manifest's `separator`. */
  sha256: string;
}

export interface SplitManifest {
  method: string;
  seed: string;
  fractions: { validation: number; test: number };
  separator: string;
  sources: string[];
  splits: Record<SplitName, SplitStats>;
}

export interface CorpusSplit {
  train: Document[];
  validation: Document[];
  test: Document[];
  manifest: SplitManifest;
}

/**
 * Orders documents by SHA-256("<seed>\0<id>") and takes the first round(n·validation) for validation, the next
 * round(n·test) for test and the rest for training (at least one document in a split with a non-zero fraction when
 * there are enough documents). The assignment depends only on ids and seed, never on the input order; within a split
 * documents keep their corpus order.
 */
export function splitCorpus(docs: readonly Document[], options: SplitOptions): CorpusSplit {
  const validation = options.validation ?? 0.05;
  const test = options.test ?? 0.05;
  for (const [name, f] of [
    ["validation", validation],
    ["test", test],
  ] as const) {
    if (!(f >= 0 && f < 1)) throw new Error(`splitCorpus: ${name} fraction must be in [0, 1), got ${f}`);
  }
  if (validation + test >= 1) throw new Error("splitCorpus: validation + test must leave documents for training");
  const seed = String(options.seed);

  const position = new Map<string, number>();
  docs.forEach((d, i) => {
    if (position.has(d.id)) throw new Error(`splitCorpus: duplicate document id ${d.id}`);
    position.set(d.id, i);
  });
  const keyed = docs.map((doc) => ({ doc, key: createHash("sha256").update(`${seed}\0${doc.id}`).digest("hex") }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.doc.id < b.doc.id ? -1 : 1));

  const n = docs.length;
  const count = (f: number) => (f === 0 || n < 3 ? Math.round(n * f) : Math.max(1, Math.round(n * f)));
  const nValidation = count(validation);
  const nTest = Math.min(count(test), n - nValidation);
  const byCorpusOrder = (list: typeof keyed) =>
    list.map((k) => k.doc).sort((a, b) => (position.get(a.id) ?? 0) - (position.get(b.id) ?? 0));
  const parts: Record<SplitName, Document[]> = {
    validation: byCorpusOrder(keyed.slice(0, nValidation)),
    test: byCorpusOrder(keyed.slice(nValidation, nValidation + nTest)),
    train: byCorpusOrder(keyed.slice(nValidation + nTest)),
  };

  const sources = [...new Set(docs.map((d) => d.source))];
  const manifest: SplitManifest = {
    method: "sha256(seed + '\\0' + id) order; first round(n*validation) → validation, next round(n*test) → test",
    seed,
    fractions: { validation, test },
    separator: DOCUMENT_SEPARATOR,
    sources,
    splits: {
      train: splitStats(parts.train),
      validation: splitStats(parts.validation),
      test: splitStats(parts.test),
    },
  };
  return { ...parts, manifest };
}

export function splitStats(docs: readonly Document[]): SplitStats {
  const hash = createHash("sha256");
  let bytes = 0;
  let characters = 0;
  docs.forEach((d, i) => {
    if (i > 0) hash.update(DOCUMENT_SEPARATOR, "utf8");
    hash.update(d.text, "utf8");
    bytes += Buffer.byteLength(d.text, "utf8");
    characters += codePoints(d.text);
  });
  return { documents: docs.length, ids: docs.map((d) => d.id), bytes, characters, sha256: hash.digest("hex") };
}

function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // a high surrogate followed by a low one is one code point
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
