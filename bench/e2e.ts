/**
 * `npm run bench:e2e [-- --json FILE] [--quick] [--shape 2B-4T] [--type TQ2_0,TQ1_0] [--threads 2]
 *                     [--no-llama] [--repeat N]`
 *
 * End-to-end BitNet speed on synthetic models in real shapes (our writer, random ternary
 * weights; generated on demand into bench/.models, kept out of git): load time, RSS, prefill
 * tokens/s for a 128-token prompt, decode tokens/s over 64 tokens, for 1 and 2 threads and each
 * ternary format, and the same network as an fp32 ONNX decoder on onnxruntime (exported from the
 * TQ2_0 file) so each shape shows its ternary/fp32 ratio. Beside each decode figure: the
 * memory-bandwidth bound, bytes read per token / measured read bandwidth, measured in the same run.
 *
 * llama.cpp is the anchor: for TQ2_0 and TQ1_0 (the ternary types mainline ggml has) the same file
 * is measured by llama.cpp (node-llama-cpp's prebuilt CPU build, test/llama-cpp) right after ours,
 * each in a child process, and the table prints tritgate/llama.cpp ratios. Timings on a shared
 * machine are noisy; the ratios of neighbouring runs are what to read.
 * Filters measure one configuration in a few minutes: --shape, --type and --threads take one value
 * or a comma list; --quick is the 700M shape only. --repeat N measures each engine N times,
 * alternating, and keeps each one's fastest run (best prefill and best decode): on a shared
 * machine the fastest run is the one least slowed by others.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { hardware, readBandwidth, type WeightType } from "../kernels/index.js";
import { convertFromGGUF } from "../src/convert/index.js";
import { convertToOnnx } from "../src/convert/to-onnx.js";
import { type E2ERun, measureInChild } from "./e2e-child.js";
import { llamaCppInstalled } from "./llama-cpp.js";
import { ensureSyntheticModel as ensureModel, MODEL_DIR as modelDir, SHAPES, type Shape } from "./synthetic.js";
import { argValue, table, writeJson } from "./timing.js";

const TYPES: WeightType[] = ["TQ2_0", "TQ1_0", "I2_S"];
const quick = process.argv.includes("--quick");
const jsonPath = argValue("--json");
/** --name a,b,c as a list, or undefined when absent (no filter) */
const listArg = (name: string) => argValue(name)?.split(",");
const shapeFilter = listArg("--shape") ?? (quick ? ["700M"] : undefined);
const typeFilter = listArg("--type");
const threadCounts = (listArg("--threads") ?? ["1", "2"]).map(Number);
const repeat = Math.max(1, Number(argValue("--repeat") ?? 1));

/** The fastest of several runs: best prefill and best decode, each from its own run. */
function fastest(runs: E2ERun[]): E2ERun {
  const first = runs[0] as E2ERun;
  return {
    ...first,
    prefillTokensPerSecond: Math.max(...runs.map((r) => r.prefillTokensPerSecond)),
    decodeTokensPerSecond: Math.max(...runs.map((r) => r.decodeTokensPerSecond)),
  };
}
/** the ternary types mainline llama.cpp reads */
const LLAMA_TYPES: readonly Variant[] = ["TQ2_0", "TQ1_0", "TQ2_0+Q8_0-head"];
const withLlama = !process.argv.includes("--no-llama");
if (withLlama && !llamaCppInstalled()) {
  throw new Error("bench:e2e measures llama.cpp beside tritgate: run test/llama-cpp/install.sh (or pass --no-llama)");
}
async function ensureOnnx(shape: Shape): Promise<string> {
  const dir = join(modelDir, `synthetic-${shape.name}-onnx`);
  const path = join(dir, "model.onnx");
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`writing ${path} ... `);
  const summary = await convertToOnnx(await ensureModel(shape, "TQ2_0"), path);
  process.stderr.write(`${summary.seconds.toFixed(1)} s\n`);
  return path;
}

/** ternary files as written, the TQ2_0 file with a Q8_0 head (`convert --head-type q8_0`), and the fp32 twin */
type Variant = WeightType | "TQ2_0+Q8_0-head" | "ONNX-F32";

async function ensureQ8Head(shape: Shape): Promise<string> {
  const path = join(modelDir, `synthetic-${shape.name}-TQ2_0-q8_0-head.gguf`);
  if (existsSync(path)) return path;
  process.stderr.write(`writing ${path} ... `);
  const summary = await convertFromGGUF(await ensureModel(shape, "TQ2_0"), path, "TQ2_0", { headType: "Q8_0" });
  process.stderr.write(`${summary.seconds.toFixed(1)} s\n`);
  return path;
}

/** Bytes one decode step must read: every linear weight and the output head. */
function bytesPerToken(shape: Shape, type: Variant): number {
  const s = shape.spec;
  const headDim = s.embedding / s.heads;
  const perWeight = { TQ2_0: 66 / 256, "TQ2_0+Q8_0-head": 66 / 256, TQ1_0: 54 / 256, I2_S: 0.25, "ONNX-F32": 4 }[
    type as "TQ2_0" | "TQ2_0+Q8_0-head" | "TQ1_0" | "I2_S" | "ONNX-F32"
  ];
  const linear =
    s.layers *
    (2 * s.embedding * s.heads * headDim + 2 * s.embedding * s.kvHeads * headDim + 3 * s.embedding * s.feedForward);
  // tied head: F16 in GGUF, fp32 in ONNX; or the separate Q8_0 head
  const head = s.vocab * s.embedding * (type === "ONNX-F32" ? 4 : type === "TQ2_0+Q8_0-head" ? 34 / 32 : 2);
  return linear * perWeight + head;
}

/** fp32 keys and values of every layer for `positions` positions. */
function kvCacheBytes(shape: Shape, positions: number): number {
  const s = shape.spec;
  return 2 * s.layers * s.kvHeads * (s.embedding / s.heads) * 4 * positions;
}

const bandwidth = readBandwidth(1 << 30, 5);
type Row = E2ERun & {
  shape: string;
  type: Variant;
  kvCacheBytes: number;
  boundTokensPerSecond: number;
  rssWithinBudget: boolean;
  /** the same file, threads and token counts on llama.cpp, measured right after ours */
  llamaCpp?: E2ERun;
  /** every run's rates, in the order measured (the row keeps the fastest): the spread on a shared host */
  runs: { tritgate: RunRates[]; llamaCpp: RunRates[] };
};
type RunRates = Pick<E2ERun, "prefillTokensPerSecond" | "decodeTokensPerSecond">;
const ratesOf = (r: E2ERun): RunRates => ({
  prefillTokensPerSecond: r.prefillTokensPerSecond,
  decodeTokensPerSecond: r.decodeTokensPerSecond,
});
const rows: Row[] = [];
const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const hw = hardware();
/** Written after every row, so a run cut short keeps what it measured. */
const save = () =>
  jsonPath &&
  writeJson(jsonPath, {
    bench: "e2e",
    date: new Date().toISOString(),
    cpu: hw.cpuModel,
    isa: hw.isa,
    readBandwidthGBs: bandwidth / 1e9,
    repeat,
    rows,
  });
// threads outermost: the 2-thread figures the targets name come first when listed first
for (const threads of threadCounts) {
  for (const shape of SHAPES.filter((s) => !shapeFilter || shapeFilter.includes(s.name))) {
    const variants: Variant[] = [...TYPES, "TQ2_0+Q8_0-head", "ONNX-F32"];
    for (const type of variants.filter((t) => !typeFilter || typeFilter.includes(t))) {
      const model =
        type === "ONNX-F32"
          ? await ensureOnnx(shape)
          : type === "TQ2_0+Q8_0-head"
            ? await ensureQ8Head(shape)
            : await ensureModel(shape, type);
      const ours: E2ERun[] = [];
      const theirs: E2ERun[] = [];
      for (let i = 0; i < repeat; i++) {
        ours.push(measureInChild(model, threads));
        if (withLlama && LLAMA_TYPES.includes(type)) {
          theirs.push(measureInChild(model, threads, "llama.cpp", ["--vocab", String(shape.spec.vocab)]));
        }
      }
      const run = fastest(ours);
      const llamaCpp = theirs.length > 0 ? fastest(theirs) : undefined;
      const loadGrowth = run.rssAfterLoad - run.rssBefore;
      const kv = kvCacheBytes(shape, 128 + 64 + 1);
      rows.push({
        ...run,
        shape: shape.name,
        type,
        kvCacheBytes: kv,
        boundTokensPerSecond: bandwidth / bytesPerToken(shape, type),
        rssWithinBudget: loadGrowth <= 1.2 * run.fileBytes + kv,
        llamaCpp,
        runs: { tritgate: ours.map(ratesOf), llamaCpp: theirs.map(ratesOf) },
      });
      save();
      process.stderr.write(".");
    }
  }
}
process.stderr.write("\n");

console.log(`tritgate e2e bench: ${hw.cpuModel}, ${hw.physicalCores} cores, isa ${hw.isa}`);
console.log(`read bandwidth: ${(bandwidth / 1e9).toFixed(1)} GB/s\n`);
console.log(
  table(
    [
      "shape",
      "type",
      "threads",
      "load ms",
      "file MB",
      "RSS MB (growth)",
      "prefill tok/s",
      "llama.cpp",
      "ratio",
      "decode tok/s",
      "llama.cpp",
      "ratio",
      "bound tok/s",
    ],
    rows.map((r) => [
      r.shape,
      r.type,
      String(r.threads),
      r.loadMs.toFixed(0),
      mb(r.fileBytes),
      `${mb(r.rssAfterLoad)} (+${mb(r.rssAfterLoad - r.rssBefore)})${r.rssWithinBudget ? "" : " OVER"}`,
      r.prefillTokensPerSecond.toFixed(1),
      r.llamaCpp ? r.llamaCpp.prefillTokensPerSecond.toFixed(1) : "—",
      r.llamaCpp ? `${(r.prefillTokensPerSecond / r.llamaCpp.prefillTokensPerSecond).toFixed(2)}x` : "—",
      r.decodeTokensPerSecond.toFixed(1),
      r.llamaCpp ? r.llamaCpp.decodeTokensPerSecond.toFixed(1) : "—",
      r.llamaCpp ? `${(r.decodeTokensPerSecond / r.llamaCpp.decodeTokensPerSecond).toFixed(2)}x` : "—",
      r.boundTokensPerSecond.toFixed(1),
    ]),
  ),
);
if (jsonPath) console.log(`\nwrote ${jsonPath}`);
