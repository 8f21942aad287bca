// Prepares the nano training data: corpus → split → tokenizer (trained on train only) → uint16 token files.
//
//   npx tsx src/train/corpus/prepare-data.ts [--seed 1] [--vocab-size 4096] [--out models/nano/data]
//                                            [--sotu-dir DIR] [--moby-dick-dir DIR]
//
// Writes tokenizer.json, tokenizer_config.json and split.json (commit these) and train.bin, validation.bin and
// test.bin (do not commit: regenerate them; they are deterministic given the seed and package versions).

import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { tokenizerFromHuggingFace } from "../../engines/tokenizer/index.js";
import type { Tokenizer } from "../../engines/tokenizer/types.js";
import { saveTokenizer, type TrainStats, trainTokenizer } from "../tokenizer/index.js";
import { type CorpusSource, type Document, type LoadCorpusOptions, loadCorpus } from "./load.js";
import { SPLIT_NAMES, type SplitManifest, type SplitName, splitCorpus } from "./split.js";

export const NANO_DATA_DIR = fileURLToPath(new URL("../../../models/nano/data/", import.meta.url));

export interface PrepareNanoDataOptions {
  vocabSize?: number;
  seed: string | number;
  /** Default models/nano/data. */
  outDir?: string;
  corpus?: LoadCorpusOptions;
  /** Progress lines; default console.log. */
  log?: (line: string) => void;
}

export interface SplitTokens {
  file: string;
  documents: number;
  tokens: number;
}

export interface NanoDataManifest extends SplitManifest {
  tokenizer: { vocabSize: number; trainedOn: "train"; eos: string; eosId: number };
  binary: { dtype: "uint16"; endianness: "little"; documentSeparator: string; note: string };
  tokens: Record<SplitName, SplitTokens>;
}

export interface PrepareNanoDataResult {
  manifest: NanoDataManifest;
  tokenizerStats: TrainStats;
  seconds: { load: number; tokenizer: number; encode: number; total: number };
}

export async function prepareNanoData(options: PrepareNanoDataOptions): Promise<PrepareNanoDataResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const outDir = options.outDir ?? NANO_DATA_DIR;
  const vocabSize = options.vocabSize ?? 4096;
  if (vocabSize > 65536) throw new Error("prepareNanoData: uint16 token files need vocabSize ≤ 65536");

  const t0 = performance.now();
  const docs = await loadCorpus(options.corpus);
  const split = splitCorpus(docs, { seed: options.seed, validation: 0.05, test: 0.05 });
  const t1 = performance.now();
  for (const name of SPLIT_NAMES) {
    const s = split.manifest.splits[name];
    log(`${name}: ${s.documents} documents, ${(s.bytes / 1e6).toFixed(2)} MB`);
  }

  const trained = trainTokenizer(
    split.train.map((d) => d.text),
    { vocabSize },
  );
  await saveTokenizer(outDir, trained);
  const t2 = performance.now();
  log(
    `tokenizer: ${trained.stats.vocabSize} tokens, ${trained.stats.merges} merges in ${((t2 - t1) / 1000).toFixed(2)} s`,
  );

  const tokenizer = tokenizerFromHuggingFace(trained.tokenizerJson, trained.tokenizerConfig);
  const eos = trained.tokenizerConfig.eos_token;
  const eosId = trained.tokenizerJson.model.vocab[eos];
  if (eosId === undefined) throw new Error(`prepareNanoData: ${eos} missing from the vocabulary`);
  const tokens = {} as Record<SplitName, SplitTokens>;
  for (const name of SPLIT_NAMES) {
    const ids = encodeDocuments(tokenizer, split[name], eosId);
    const file = `${name}.bin`;
    await writeFile(join(outDir, file), toUint16LE(ids));
    tokens[name] = { file, documents: split[name].length, tokens: ids.length };
    log(`${file}: ${ids.length} tokens`);
  }
  const t3 = performance.now();

  const manifest: NanoDataManifest = {
    ...split.manifest,
    tokenizer: { vocabSize: trained.stats.vocabSize, trainedOn: "train", eos, eosId },
    binary: {
      dtype: "uint16",
      endianness: "little",
      documentSeparator: eos,
      note: "each document is encoded without BOS and followed by the EOS id; .bin files are not committed",
    },
    tokens,
  };
  await writeFile(join(outDir, "split.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return {
    manifest,
    tokenizerStats: trained.stats,
    seconds: { load: (t1 - t0) / 1000, tokenizer: (t2 - t1) / 1000, encode: (t3 - t2) / 1000, total: (t3 - t0) / 1000 },
  };
}

/** Token ids of the documents in order, each followed by eosId (no BOS). */
export function encodeDocuments(tokenizer: Tokenizer, docs: readonly Document[], eosId: number): number[] {
  const out: number[] = [];
  for (const doc of docs) {
    // parseSpecial off: a document that happens to contain "<|end|>" is text, not a control token
    for (const id of tokenizer.encode(doc.text, { addSpecial: false, parseSpecial: false })) out.push(id);
    out.push(eosId);
  }
  return out;
}

/**
 * The split token files, rebuilt from the corpus packages when missing (they are not committed). Built in
 * a scratch folder and renamed into place, so concurrent callers never read a half-written file.
 */
export async function ensureTokenFiles(dir: string, log: (line: string) => void): Promise<void> {
  const files = ["train.bin", "validation.bin", "test.bin"];
  if (files.every((f) => existsSync(join(dir, f)))) return;
  if (resolve(dir) !== resolve(NANO_DATA_DIR)) throw new Error(`${dir} has no ${files.join(" / ")}`);
  log("tritgate: building the nano token files from the corpus packages (~10 s)");
  const scratch = await mkdtemp(join(dir, ".build-")); // same filesystem: rename is atomic
  try {
    await prepareNanoData({ seed: 1, outDir: scratch, log });
    for (const f of files) await rename(join(scratch, f), join(dir, f));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export function toUint16LE(ids: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(ids.length * 2);
  const view = new DataView(bytes.buffer);
  ids.forEach((id, i) => {
    if (!(id >= 0 && id <= 0xffff)) throw new Error(`toUint16LE: id ${id} does not fit in uint16`);
    view.setUint16(i * 2, id, true);
  });
  return bytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "1" },
      "vocab-size": { type: "string", default: "4096" },
      out: { type: "string" },
      "sotu-dir": { type: "string" },
      "moby-dick-dir": { type: "string" },
    },
  });
  const packageDirs: Partial<Record<CorpusSource, string>> = {};
  if (values["sotu-dir"]) packageDirs.sotu = resolve(values["sotu-dir"]);
  if (values["moby-dick-dir"]) packageDirs["moby-dick"] = resolve(values["moby-dick-dir"]);
  const outDir = values.out ? resolve(values.out) : NANO_DATA_DIR;
  await mkdir(outDir, { recursive: true });
  const result = await prepareNanoData({
    seed: values.seed,
    vocabSize: Number(values["vocab-size"]),
    outDir,
    corpus: { packageDirs },
  });
  console.log(JSON.stringify({ seconds: result.seconds, tokens: result.manifest.tokens }, null, 2));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
