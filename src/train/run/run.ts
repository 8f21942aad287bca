/**
 * One training run: a recipe in one mode (fp32 or BitNet b1.58 QAT) on the native trainer,
 * with the learning-rate and weight-decay schedule of its mode, periodic validation, a log line
 * per step (log.jsonl), checkpoints that resume bit for bit, and the final parameters.
 *
 *   outDir/recipe.json       what ran (recipe + mode)
 *   outDir/log.jsonl         {step, loss, lr, weightDecay, gradNorm, tokensPerSecond} and {step, validationLoss}
 *   outDir/checkpoint.bin    params | m | v (float32), with checkpoint.json {step, seconds, rope}
 *   outDir/params.bin        the trained parameters (flat float32, kernels/src/train.h layout)
 *   outDir/result.json       losses, tokens, seconds, rope
 *
 * `rope: "neox"` says the run used NeoX RoPE; runs written before the trainer switched have no
 * such field and were trained with consecutive pairs (their Q/K rows need reordering at export).
 */
import { appendFile, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { NativeTrainer, type TrainerMode } from "../../../kernels/trainer.js";
import { writeFileAtomic } from "../../util/write-file-atomic.js";
import type { RopePairing } from "../export.js";
import { flattenParams } from "../params.js";
import { bitnetTwoStageSchedule, fp32Schedule, type Schedule, scheduleAt } from "../reference/adamw.js";
import { initParams } from "../reference/model.js";
import { batchAt, evaluationBatch } from "./data.js";
import type { Recipe } from "./recipe.js";

export interface RunOptions {
  readonly recipe: Recipe;
  readonly mode: TrainerMode;
  readonly train: Uint16Array;
  readonly validation: Uint16Array;
  readonly outDir: string;
  /** continue from outDir/checkpoint.bin when there is one */
  readonly resume?: boolean;
  /** stop after this step (checkpointing first), to test resuming */
  readonly stopAfter?: number;
  readonly onLog?: (line: string) => void;
}

export interface RunResult {
  readonly recipe: string;
  readonly mode: TrainerMode;
  readonly steps: number;
  readonly tokens: number;
  readonly seconds: number;
  readonly finalTrainLoss: number;
  readonly validationLoss: number;
  readonly finished: boolean;
  /** absent in runs from before the trainer used NeoX RoPE (see runRopePairing) */
  readonly rope?: RopePairing;
}

/** The RoPE pairing this trainer trains with. */
export const TRAINER_ROPE: RopePairing = "neox";

/** The pairing a run was trained with: recorded since the switch to NeoX, consecutive pairs before. */
export function runRopePairing(result: Pick<RunResult, "rope">): RopePairing {
  return result.rope ?? "pairs";
}

export function scheduleFor(recipe: Recipe, mode: TrainerMode): Schedule {
  return mode === "qat"
    ? bitnetTwoStageSchedule(recipe.steps, recipe.peakLr.qat, recipe.warmupSteps)
    : fp32Schedule(recipe.steps, recipe.peakLr.fp32, recipe.warmupSteps);
}

/** Mean loss over the recipe's fixed validation batches (forward only). */
export function validationLoss(trainer: NativeTrainer, recipe: Recipe, ids: Uint16Array): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < recipe.evalBatches; i++) {
    const batch = evaluationBatch(ids, recipe.batch, recipe.sequence, i);
    if (!batch) break;
    sum += trainer.step(batch, recipe.batch, recipe.sequence, false);
    count++;
  }
  if (count === 0) throw new RangeError("the validation split is shorter than one evaluation batch");
  return sum / count;
}

function bytesOf(...arrays: Float32Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset += a.byteLength;
  }
  return out;
}

async function saveCheckpoint(dir: string, trainer: NativeTrainer, step: number, seconds: number) {
  await writeFileAtomic(join(dir, "checkpoint.bin"), bytesOf(trainer.params, trainer.m, trainer.v));
  await writeFileAtomic(join(dir, "checkpoint.json"), `${JSON.stringify({ step, seconds, rope: TRAINER_ROPE })}\n`);
}

async function loadCheckpoint(
  dir: string,
  trainer: NativeTrainer,
): Promise<{ step: number; seconds: number } | undefined> {
  let meta: { step: number; seconds: number; rope?: RopePairing };
  try {
    meta = JSON.parse(await readFile(join(dir, "checkpoint.json"), "utf8")) as typeof meta;
  } catch {
    return undefined;
  }
  if (runRopePairing(meta) !== TRAINER_ROPE) {
    throw new RangeError(
      `${dir}/checkpoint.json is from a run trained with ${runRopePairing(meta)} RoPE; this trainer uses ${TRAINER_ROPE}, so it cannot continue it`,
    );
  }
  const bytes = await readFile(join(dir, "checkpoint.bin"));
  const n = trainer.params.length;
  if (bytes.length !== 3 * n * 4) throw new RangeError(`${dir}/checkpoint.bin does not match this recipe's model`);
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  trainer.params.set(floats.subarray(0, n));
  trainer.m.set(floats.subarray(n, 2 * n));
  trainer.v.set(floats.subarray(2 * n, 3 * n));
  return meta;
}

/** Drops log lines past `step` (a run killed between a checkpoint and its next log lines). */
async function trimLog(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return;
  }
  const kept = text
    .split("\n")
    .filter((l) => l.trim() !== "" && (JSON.parse(l) as { step: number }).step <= step)
    .map((l) => `${l}\n`)
    .join("");
  await writeFileAtomic(path, kept);
}

export async function trainRun(o: RunOptions): Promise<RunResult> {
  const { recipe, mode } = o;
  const trainer = new NativeTrainer({ ...recipe.model, batch: recipe.batch }, mode);
  await mkdir(o.outDir, { recursive: true });
  await writeFileAtomic(join(o.outDir, "recipe.json"), `${JSON.stringify({ ...recipe, mode }, null, 2)}\n`);
  const logPath = join(o.outDir, "log.jsonl");
  const resumed = o.resume ? await loadCheckpoint(o.outDir, trainer) : undefined;
  let step = resumed?.step ?? 0;
  let secondsBefore = resumed?.seconds ?? 0;
  if (resumed) await trimLog(logPath, step);
  else {
    trainer.params.set(flattenParams(initParams(recipe.model, recipe.seed, recipe.initStd)));
    await rm(logPath, { force: true });
  }
  const schedule = scheduleFor(recipe, mode);
  const started = performance.now();
  let lastLoss = Number.NaN;
  let lastValidation = Number.NaN;
  const tokensPerStep = recipe.batch * recipe.sequence;
  const log = async (entry: Record<string, number>) => {
    await appendFile(logPath, `${JSON.stringify(entry)}\n`);
  };
  while (step < recipe.steps) {
    const t0 = performance.now();
    const { lr, weightDecay } = scheduleAt(schedule, step);
    trainer.zeroGrads();
    const loss = trainer.step(
      batchAt(o.train, recipe.batch, recipe.sequence, recipe.seed, step),
      recipe.batch,
      recipe.sequence,
      true,
    );
    if (!Number.isFinite(loss)) throw new Error(`the loss diverged at step ${step + 1} (${loss})`);
    const gradNorm = trainer.adamw({ lr, weightDecay, step: step + 1, clip: recipe.clip });
    step++;
    lastLoss = loss;
    const tokensPerSecond = tokensPerStep / ((performance.now() - t0) / 1000);
    await log({ step, loss, lr, weightDecay, gradNorm, tokensPerSecond });
    if (step % recipe.evalEvery === 0 || step === recipe.steps) {
      lastValidation = validationLoss(trainer, recipe, o.validation);
      await log({ step, validationLoss: lastValidation });
      o.onLog?.(
        `${recipe.name}/${mode} step ${step}/${recipe.steps} loss ${loss.toFixed(3)} val ${lastValidation.toFixed(3)} lr ${lr.toExponential(2)} ${tokensPerSecond.toFixed(0)} tok/s`,
      );
    }
    if (step % recipe.checkpointEvery === 0 || step === recipe.steps || step === o.stopAfter) {
      await saveCheckpoint(o.outDir, trainer, step, secondsBefore + (performance.now() - started) / 1000);
    }
    if (step === o.stopAfter) break;
  }
  const seconds = secondsBefore + (performance.now() - started) / 1000;
  secondsBefore = 0;
  const finished = step === recipe.steps;
  if (finished) {
    if (Number.isNaN(lastValidation)) lastValidation = validationLoss(trainer, recipe, o.validation);
    if (Number.isNaN(lastLoss)) lastLoss = lastValidation;
    await writeFileAtomic(join(o.outDir, "params.bin"), bytesOf(trainer.params));
  }
  const result: RunResult = {
    recipe: recipe.name,
    mode,
    steps: step,
    tokens: step * tokensPerStep,
    seconds,
    finalTrainLoss: lastLoss,
    validationLoss: lastValidation,
    finished,
    rope: TRAINER_ROPE,
  };
  if (finished) await writeFileAtomic(join(o.outDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The trained parameters of a finished run. */
export async function readTrainedParams(outDir: string): Promise<Float32Array> {
  const bytes = await readFile(join(outDir, "params.bin"));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}
