/**
 * `npm run bench:constrain [-- --json FILE] [--quick]`
 *
 * Per-token cost of constrained decoding's token mask (engines/constrain): on the nano vocabulary
 * (4096 tokens) and on a synthetic 128,256-token byte-level vocabulary, driven through a JSON
 * document token by token (greedy longest-match tokenization, so both vocabularies see the same
 * text). Each step computes the allowed set, writes -Infinity into the logits and advances. The
 * anchor, measured in the same run on the same vocabulary size, is one sampler step (temperature 1,
 * top-p 0.95): the other per-token CPU cost of the decode loop.
 */
import {
  buildVocabIndex,
  ConstrainedOutput,
  type ConstraintSpec,
  compileConstraint,
  type VocabIndex,
} from "../src/engines/constrain/index.js";
import { byteTokenizer, syntheticVocabulary } from "../src/engines/constrain/testkit.js";
import { Sampler } from "../src/engines/sampler/index.js";
import { loadTokenizerDir, type Tokenizer } from "../src/engines/tokenizer/index.js";
import { argValue, table, timeCalls, writeJson } from "./timing.js";

const quick = process.argv.includes("--quick");
const jsonPath = argValue("--json");

const DOCUMENT = {
  name: "Ishmael",
  ship: "Pequod",
  voyage: { year: 1841, port: "Nantucket", whales: 3, lost: true },
  crew: [
    { name: "Queequeg", role: "harpooneer", age: 30 },
    { name: "Starbuck", role: "first mate", age: 38 },
    { name: "Ahab", role: "captain", age: 58 },
  ],
  notes:
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.",
};
const TEXT = JSON.stringify(DOCUMENT, null, 2);
const CREW = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 16 },
    role: { type: "string", maxLength: 16 },
    age: { type: "integer" },
  },
  required: ["name", "role", "age"],
  additionalProperties: false,
};
const SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string" },
    ship: { type: "string" },
    voyage: {
      type: "object",
      properties: {
        year: { type: "integer" },
        port: { type: "string" },
        whales: { type: "integer" },
        lost: { type: "boolean" },
      },
      required: ["year", "port", "whales", "lost"],
      additionalProperties: false,
    },
    crew: { type: "array", items: CREW, maxItems: 8 },
    notes: { type: "string", maxLength: 400 },
  },
  required: ["name", "ship", "voyage", "crew", "notes"],
  additionalProperties: false,
};
const GRAMMARS: Record<string, ConstraintSpec> = {
  json_object: { kind: "json_object" },
  json_schema: { kind: "json_schema", schema: SCHEMA, strict: true, path: "schema" },
};

/** Longest-match tokenization of `text` over the vocabulary's byte strings. */
function tokenize(vocab: VocabIndex, text: string): number[] {
  const byBytes = new Map<string, number>();
  let longest = 0;
  vocab.tokenBytes.forEach((b, id) => {
    if (!b) return;
    const key = Buffer.from(b).toString("latin1");
    if (!byBytes.has(key)) byBytes.set(key, id);
    longest = Math.max(longest, b.length);
  });
  const bytes = Buffer.from(text, "utf8").toString("latin1");
  const ids: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    for (let len = Math.min(longest, bytes.length - at); len > 0; len--) {
      const id = byBytes.get(bytes.slice(at, at + len));
      if (id === undefined) continue;
      ids.push(id);
      at += len;
      break;
    }
  }
  return ids;
}

interface Row {
  vocabulary: string;
  vocabSize: number;
  grammar: string;
  tokens: number;
  buildMs: number;
  maskMsPerToken: number;
  maskMsWorst: number;
  samplerMsPerToken: number;
  ratio: number;
}

async function measure(name: string, tokenizer: Tokenizer): Promise<Row[]> {
  const t0 = performance.now();
  const vocab = buildVocabIndex(tokenizer, tokenizer.vocabSize);
  const buildMs = performance.now() - t0;
  const n = vocab.vocabSize;
  const ids = tokenize(vocab, TEXT);
  const noise = new Float32Array(n);
  for (let i = 0; i < n; i++) noise[i] = Math.sin(i * 12.9898) * 8;
  const logits = new Float32Array(n);

  const sampler = new Sampler({ temperature: 1, topP: 0.95, seed: 1 }, n);
  const history = [1, 2, 3];
  const samplerStep = await timeCalls(
    () => {
      logits.set(noise);
      sampler.sample(logits, history);
    },
    { budgetMs: quick ? 200 : 1000 },
  );
  const copy = await timeCalls(() => logits.set(noise), { budgetMs: 100 });

  const rows: Row[] = [];
  for (const [grammarName, spec] of Object.entries(GRAMMARS)) {
    const grammar = compileConstraint(spec);
    const passes = quick ? 1 : 3;
    const perStep = new Float64Array(ids.length).fill(Number.POSITIVE_INFINITY);
    for (let pass = 0; pass < passes; pass++) {
      const out = new ConstrainedOutput(grammar, vocab);
      ids.forEach((id, step) => {
        logits.set(noise);
        const s = performance.now();
        out.mask(logits);
        out.accept(id);
        perStep[step] = Math.min(perStep[step]!, performance.now() - s);
      });
    }
    const total = perStep.reduce((a, b) => a + b, 0);
    const maskMs = total / ids.length;
    const samplerMs = samplerStep.median - copy.median;
    rows.push({
      vocabulary: name,
      vocabSize: n,
      grammar: grammarName,
      tokens: ids.length,
      buildMs,
      maskMsPerToken: maskMs,
      maskMsWorst: Math.max(...perStep),
      samplerMsPerToken: samplerMs,
      ratio: maskMs / samplerMs,
    });
  }
  return rows;
}

const rows = [
  ...(await measure("nano (models/nano)", await loadTokenizerDir("models/nano/data"))),
  ...(await measure("synthetic 128k", byteTokenizer(syntheticVocabulary(128_256)))),
];
console.log(
  table(
    [
      "vocabulary",
      "size",
      "grammar",
      "doc tokens",
      "index build ms",
      "mask ms/token",
      "worst step ms",
      "sampler ms/token",
      "mask / sampler",
    ],
    rows.map((r) => [
      r.vocabulary,
      String(r.vocabSize),
      r.grammar,
      String(r.tokens),
      r.buildMs.toFixed(0),
      r.maskMsPerToken.toFixed(3),
      r.maskMsWorst.toFixed(2),
      r.samplerMsPerToken.toFixed(3),
      `${r.ratio.toFixed(2)}x`,
    ]),
  ),
);
if (jsonPath) writeJson(jsonPath, { date: new Date().toISOString(), document: TEXT.length, rows });
