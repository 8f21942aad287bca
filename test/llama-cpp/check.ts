/**
 * Checks a user's BitNet GGUF against llama.cpp: does llama.cpp load it without a warning, do
 * both tokenize some text alike, and do both continue a prompt alike (greedy, with each step's
 * log-probability distance against the bound activation quantization explains).
 * `npm run check:llama-cpp -- FILE.gguf` runs it (check-file.ts).
 */
import { type BitNetEngine, bitnetEngineFromFile, readBitNetConfig } from "../../src/engines/bitnet/index.js";
import { SAMPLES } from "../../src/engines/tokenizer/testkit.js";
import { metaString, readGGUF } from "../../src/formats/gguf/index.js";
import { agreementBound, boundFactors, compareGreedy } from "./compare.js";
import type { LlamaCpp } from "./llama.js";

export type Verdict = "agree" | "agree-within-bound" | "disagree" | "llama.cpp-cannot-load" | "tritgate-cannot-load";

export interface CheckReport {
  readonly file: string;
  readonly architecture?: string;
  readonly tensorTypes: Record<string, number>;
  /** what llama.cpp logged at warning level or above while loading the file */
  readonly llamaCppWarnings: string[];
  readonly notes: string[];
  /** strings (of those tried) that the two tokenizers split differently */
  readonly tokenizerMismatches: string[];
  readonly steps?: ReadonlyArray<{ ours: number; theirs: number; difference: number; bound: number; margin: number }>;
  readonly verdict: Verdict;
}

export async function checkFile(
  llama: LlamaCpp,
  path: string,
  options: { prompt?: string; tokens?: number } = {},
): Promise<CheckReport> {
  const file = await readGGUF(path);
  const tensorTypes: Record<string, number> = {};
  for (const t of file.tensors) tensorTypes[t.type] = (tensorTypes[t.type] ?? 0) + 1;
  const architecture = metaString(file, "general.architecture");
  const notes: string[] = [];
  const base = { file: path, architecture, tensorTypes, notes, tokenizerMismatches: [] as string[] };

  let engine: BitNetEngine;
  try {
    readBitNetConfig(file);
    engine = bitnetEngineFromFile(file);
  } catch (e) {
    notes.push(`tritgate: ${(e as Error).message}`);
    return { ...base, llamaCppWarnings: [], verdict: "tritgate-cannot-load" };
  }
  const { result: model, lines } = await llama.logged(() => llama.loadModel(path));
  const llamaCppWarnings = lines.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message);
  if (model instanceof Error) {
    if (architecture !== "bitnet") {
      notes.push(
        `mainline llama.cpp has no "${architecture}" architecture (bitnet.cpp's name for the 2B-4T layout, ReLU² FFN); only bitnet.cpp can run it`,
      );
    }
    if (file.tensors.some((t) => t.type === "I2_S")) {
      notes.push(
        "I2_S is bitnet.cpp's packing, not ggml's: re-pack it (tritgate convert --from-gguf IN --out OUT --type TQ2_0) and check OUT",
      );
    }
    return { ...base, llamaCppWarnings, verdict: "llama.cpp-cannot-load" };
  }

  const activation = engine.config.activation;
  if (architecture === "bitnet" && activation !== "silu") {
    notes.push(`the file asks for a ${activation} feed-forward; llama.cpp's bitnet always runs SiLU`);
  }
  const tokenizerMismatches: string[] = [];
  try {
    for (const text of SAMPLES) {
      for (const parseSpecial of [false, true]) {
        const ours = engine.tokenizer.encode(text, { addSpecial: false, parseSpecial });
        const theirs = model.tokenize(text, parseSpecial);
        if (JSON.stringify(ours) !== JSON.stringify(theirs)) tokenizerMismatches.push(JSON.stringify(text));
      }
    }
    if (engine.tokenizer.addBos !== model.tokens.shouldPrependBosToken) {
      notes.push(`tritgate ${engine.tokenizer.addBos ? "adds" : "does not add"} BOS and llama.cpp does not agree`);
    }
  } finally {
    await model.dispose();
  }

  const prompt = engine.tokenizer.encode(options.prompt ?? "The quick brown fox");
  const factors = boundFactors(file);
  const compared = await compareGreedy(llama, file, prompt, options.tokens ?? 16);
  const steps = compared.map((s) => ({
    ours: s.ours,
    theirs: s.theirs,
    difference: s.difference,
    bound: agreementBound(factors, s.quantization),
    margin: s.margin,
  }));
  const first = steps.findIndex((s) => s.ours !== s.theirs);
  const withinBound = steps.slice(0, first < 0 ? steps.length : first + 1).every((s) => s.difference <= s.bound);
  // a divergence is explained only where llama.cpp's top two tokens were closer than twice the bound
  const explained = first >= 0 && withinBound && (steps[first]?.margin ?? 0) <= 2 * (steps[first]?.bound ?? 0);
  const verdict: Verdict =
    tokenizerMismatches.length > 0 || !withinBound
      ? "disagree"
      : first < 0
        ? "agree"
        : explained
          ? "agree-within-bound"
          : "disagree";
  return { ...base, llamaCppWarnings, tokenizerMismatches, steps, verdict };
}
