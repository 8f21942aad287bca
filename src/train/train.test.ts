/**
 * The nano pipeline end to end on the tiny recipe: train both modes on the real corpus split,
 * resume from a checkpoint, export (QAT → ternary GGUF, fp32 → float GGUF → ONNX, fp32 →
 * post-training ternary GGUF), and check that the engines score exactly what the trainer trained.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NativeTrainer } from "../../kernels/trainer.js";
import { run as runCli } from "../cli/main.js";
import { pairsToNeoXRowSource } from "../convert/tensors.js";
import { convertToOnnx } from "../convert/to-onnx.js";
import { loadEngine } from "../engines/load.js";
import { evaluateVariant, scoreRow } from "../eval/index.js";
import { ensureTokenFiles, NANO_DATA_DIR } from "./corpus/prepare-data.js";
import { exportGguf, type GgufExportOptions, ggufTensors } from "./export.js";
import { buildFamily } from "./family.js";
import { flatLayout } from "./params.js";
import { evaluationBatch, readTokenFile } from "./run/data.js";
import { TINY } from "./run/recipe.js";
import { type RunResult, readTrainedParams, runRopePairing, trainRun } from "./run/run.js";

const dir = mkdtempSync(join(tmpdir(), "tritgate-train-"));
let train: Uint16Array;
let validation: Uint16Array;
let test: Uint16Array;
const results: Record<string, RunResult> = {};

async function run(mode: "fp32" | "qat", out: string, extra: { stopAfter?: number; resume?: boolean } = {}) {
  return trainRun({ recipe: TINY, mode, train, validation, outDir: join(dir, out), ...extra });
}

beforeAll(async () => {
  await ensureTokenFiles(NANO_DATA_DIR, () => {});
  train = await readTokenFile(join(NANO_DATA_DIR, "train.bin"), TINY.model.vocab);
  validation = await readTokenFile(join(NANO_DATA_DIR, "validation.bin"), TINY.model.vocab);
  test = await readTokenFile(join(NANO_DATA_DIR, "test.bin"), TINY.model.vocab);
  results.fp32 = await run("fp32", "fp32");
  results.qat = await run("qat", "qat");
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The trainer's own loss on the first validation window, and that window. */
async function trainerLoss(mode: "fp32" | "qat", out: string) {
  const trainer = new NativeTrainer({ ...TINY.model, batch: 1 }, mode);
  trainer.params.set(await readTrainedParams(join(dir, out)));
  const window = evaluationBatch(validation, 1, TINY.sequence, 0)!;
  return { loss: trainer.step(window, 1, TINY.sequence, false), window };
}

/** Mean next-token NLL an engine gives the same window. */
async function engineLoss(path: string, window: Int32Array): Promise<number> {
  const engine = await loadEngine(path, { threads: 1 });
  try {
    const inputs = Array.from(window.subarray(0, -1));
    const logits = await engine.newSession(inputs.length).appendAll(inputs);
    const V = engine.vocabSize;
    let nll = 0;
    for (let t = 0; t < inputs.length; t++)
      nll -= scoreRow(logits.subarray(t * V, (t + 1) * V), window[t + 1]!).logProb;
    return nll / inputs.length;
  } finally {
    await engine.close();
  }
}

const exportOptions = (o: Partial<GgufExportOptions>): GgufExportOptions => ({
  linear: "F32",
  embedding: "F32",
  tokenizerDir: NANO_DATA_DIR,
  name: "tiny",
  trainedRope: "neox",
  ...o,
});

describe("training the tiny recipe", () => {
  it("lowers the validation loss well below chance in both modes", () => {
    const chance = Math.log(TINY.model.vocab);
    for (const mode of ["fp32", "qat"] as const) {
      expect(results[mode]!.finished).toBe(true);
      expect(results[mode]!.validationLoss).toBeLessThan(chance - 1);
    }
    const log = readFileSync(join(dir, "qat", "log.jsonl"), "utf8")
      .trim()
      .split("\n");
    const losses = log.map((l) => JSON.parse(l) as { loss?: number }).filter((e) => e.loss !== undefined);
    expect(losses).toHaveLength(TINY.steps);
    expect(losses.at(-1)!.loss!).toBeLessThan(losses[0]!.loss! - 1);
  });

  it("resumes from a checkpoint to exactly the parameters of an uninterrupted run", async () => {
    const stopped = await run("qat", "resumed", { stopAfter: 15 });
    expect(stopped.finished).toBe(false);
    const resumed = await run("qat", "resumed", { resume: true });
    expect(resumed.finished).toBe(true);
    const a = readFileSync(join(dir, "qat", "params.bin"));
    const b = readFileSync(join(dir, "resumed", "params.bin"));
    expect(b.equals(a)).toBe(true);
    // the same log, but for the measured speed
    const entries = (out: string) =>
      readFileSync(join(dir, out, "log.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => ({ ...(JSON.parse(l) as object), tokensPerSecond: undefined }));
    expect(entries("resumed")).toEqual(entries("qat"));
  }, 300_000);

  it("records NeoX RoPE in the result and checkpoint, and will not resume a run from before it", async () => {
    expect(results.qat!.rope).toBe("neox");
    expect(runRopePairing(results.qat!)).toBe("neox");
    expect(runRopePairing({})).toBe("pairs");
    const meta = JSON.parse(readFileSync(join(dir, "qat", "checkpoint.json"), "utf8")) as { rope?: string };
    expect(meta.rope).toBe("neox");
    const old = join(dir, "old-checkpoint");
    cpSync(join(dir, "qat"), old, { recursive: true });
    const { rope: _, ...before } = meta;
    writeFileSync(join(old, "checkpoint.json"), `${JSON.stringify(before)}\n`);
    await expect(run("qat", "old-checkpoint", { resume: true })).rejects.toThrow(/trained with pairs RoPE/);
  });
});

describe("exporting the tiny models", () => {
  it("fp32 → float GGUF and ONNX: both engines score what the trainer computed", async () => {
    const { loss, window } = await trainerLoss("fp32", "fp32");
    const gguf = join(dir, "fp32", "model-f32.gguf");
    await exportGguf(await readTrainedParams(join(dir, "fp32")), TINY.model, gguf, exportOptions({}));
    const onnx = join(dir, "fp32-onnx", "model.onnx");
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir, "fp32-onnx"), { recursive: true }));
    await convertToOnnx(gguf, onnx);
    expect(Math.abs((await engineLoss(gguf, window)) - loss) / loss).toBeLessThan(1e-4);
    expect(Math.abs((await engineLoss(onnx, window)) - loss) / loss).toBeLessThan(1e-4);
  }, 60_000);

  it("QAT → TQ2_0 and I2_S GGUF: the ternary engine scores what the QAT forward pass computed", async () => {
    const { loss, window } = await trainerLoss("qat", "qat");
    const params = await readTrainedParams(join(dir, "qat"));
    for (const linear of ["TQ2_0", "I2_S"] as const) {
      const path = join(dir, "qat", `model-${linear}.gguf`);
      await exportGguf(params, TINY.model, path, exportOptions({ linear }));
      // differences: α rounds to fp16 in TQ2_0 blocks, the kernels round int8 ties to even
      expect(Math.abs((await engineLoss(path, window)) - loss) / loss).toBeLessThan(2e-3);
    }
  }, 60_000);

  it("parameters trained with consecutive-pair RoPE export with Q/K rows reordered to NeoX", async () => {
    // the same network laid out for consecutive pairs: NeoX row r sits at row source[r]
    const params = await readTrainedParams(join(dir, "qat"));
    const paired = params.slice();
    const c = TINY.model;
    const D = c.embedding / c.heads;
    for (const t of flatLayout(c).filter((t) => /\.(wq|wk)$/.test(t.name))) {
      const source = pairsToNeoXRowSource(t.name.endsWith("wq") ? c.heads : c.kvHeads, D);
      source.forEach((from, to) => {
        const row = params.subarray(t.offset + to * c.embedding, t.offset + (to + 1) * c.embedding);
        paired.set(row, t.offset + from * c.embedding);
      });
    }
    expect(Buffer.from(paired.buffer).equals(Buffer.from(params.buffer))).toBe(false);
    const bytes = (p: Float32Array, trainedRope: "neox" | "pairs") =>
      ggufTensors(p, c, { linear: "I2_S", embedding: "F16", trainedRope }).map((t) =>
        Buffer.from(typeof t.data === "function" ? t.data() : t.data),
      );
    const want = bytes(params, "neox");
    const got = bytes(paired, "pairs");
    expect(got.map((b, i) => b.equals(want[i]!))).toEqual(want.map(() => true));
    expect(bytes(paired, "neox").some((b, i) => !b.equals(want[i]!))).toBe(true);
  });

  it("eval runs on the test split: post-training ternary against the fp32 reference", async () => {
    const params = await readTrainedParams(join(dir, "fp32"));
    const ptq = join(dir, "fp32", "model-ptq.gguf");
    await exportGguf(params, TINY.model, ptq, exportOptions({ linear: "TQ2_0" }));
    const reference = join(dir, "fp32", "model-f32.gguf");
    const result = await evaluateVariant({
      model: ptq,
      reference,
      tokens: test,
      window: TINY.sequence + 1,
      maxTokens: 1024,
      threads: 1,
      speed: { promptTokens: 8, newTokens: 4 },
    });
    expect(result.perplexity).toBeGreaterThan(1);
    expect(result.referencePerplexity).toBeGreaterThan(1);
    expect(result.quality).toBeCloseTo(result.referencePerplexity! / result.perplexity, 10);
    expect(result.top1Agreement).toBeGreaterThan(0);
    expect(result.decodeTokensPerSecond).toBeGreaterThan(0);
  }, 60_000);
});

describe("building the tiny family", () => {
  it("exports, evaluates and writes a card, README and loss curve per variant", async () => {
    const outDir = join(dir, "models");
    const cards = await buildFamily({
      recipe: TINY,
      runsDir: dir,
      outDir,
      dataDir: NANO_DATA_DIR,
      threads: 1,
      maxEvalTokens: 4 * (TINY.sequence + 1),
    });
    expect(cards.map((c) => c.name)).toEqual(["tiny-b158", "tiny-b158 (I2_S)", "tiny-fp32", "tiny-b158-ptq"]);
    expect(cards.map((c) => c.produced.trainedRope)).toEqual(["neox", "neox", "neox", "neox"]);
    const fp32 = cards[2]!;
    expect(fp32.quality.quality).toBeCloseTo(1, 6);
    expect(fp32.quality.top1Agreement).toBe(1);
    for (const name of ["tiny-b158", "tiny-fp32", "tiny-b158-ptq"]) {
      const card = JSON.parse(readFileSync(join(outDir, name, "card.json"), "utf8")) as typeof fp32;
      const model = readFileSync(join(outDir, name, card.file));
      expect(createHash("sha256").update(model).digest("hex")).toBe(card.sha256);
      expect(
        readFileSync(join(outDir, name, "loss.png"))
          .subarray(1, 4)
          .toString(),
      ).toBe("PNG");
      expect(readFileSync(join(outDir, name, "README.md"), "utf8")).toContain(card.quality.perplexity.toFixed(2));
    }
    // `tritgate eval` re-measures a variant and records it in its card
    const ptqModel = join(outDir, "tiny-b158-ptq", "model.gguf");
    const before = JSON.parse(readFileSync(join(outDir, "tiny-b158-ptq", "card.json"), "utf8")) as typeof fp32;
    const args = ["eval", "--model", ptqModel, "--reference", join(outDir, "tiny-fp32", "model.onnx")];
    const code = await runCli([
      ...args,
      "--window",
      "33",
      "--max-tokens",
      String(6 * 33),
      "--threads",
      "1",
      "--out",
      join(dir, "e.json"),
    ]);
    expect(code).toBe(0);
    const after = JSON.parse(readFileSync(join(outDir, "tiny-b158-ptq", "card.json"), "utf8")) as typeof fp32;
    expect(after.quality.tokens).toBe(6 * 32);
    expect(before.quality.tokens).toBe(4 * 32);
    expect(after.quality.reference).toBe(before.quality.reference);
    expect(after.sha256).toBe(before.sha256);
    // a file the card lists as an alternative (the I2_S copy) is recorded in its entry
    type WithAlternatives = typeof fp32 & { alternatives: (typeof fp32)[] };
    const b158Card = join(outDir, "tiny-b158", "card.json");
    const i2sBefore = JSON.parse(readFileSync(b158Card, "utf8")) as WithAlternatives;
    const i2sArgs = ["eval", "--model", join(outDir, "tiny-b158", "model-i2_s.gguf"), "--window", "33"];
    expect(
      await runCli([...i2sArgs, "--max-tokens", String(6 * 33), "--threads", "1", "--out", join(dir, "i.json")]),
    ).toBe(0);
    const i2sAfter = JSON.parse(readFileSync(b158Card, "utf8")) as WithAlternatives;
    expect(i2sAfter.quality).toEqual(i2sBefore.quality);
    expect(i2sAfter.alternatives[0]!.quality.tokens).toBe(6 * 32);
    expect(i2sBefore.alternatives[0]!.quality.tokens).toBe(4 * 32);
    // ternary linear layers: 2 bits a weight plus block scales, against 32
    expect(cards[0]!.linearBytes * 5).toBeLessThan(fp32.linearBytes);
    expect(cards[1]!.linearBytes * 5).toBeLessThan(fp32.linearBytes);
  }, 120_000);
});
