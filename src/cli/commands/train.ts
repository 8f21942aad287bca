/**
 * `tritgate train --recipe nano --mode qat|fp32 --out DIR [--resume]`
 * Trains one mode of a recipe on the native trainer (see src/train/run). The data are the
 * uint16 token files of --data (default models/nano/data), rebuilt from the corpus packages
 * when missing.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setThreads } from "../../../kernels/index.js";
import type { TrainerMode } from "../../../kernels/trainer.js";
import { ensureTokenFiles, NANO_DATA_DIR } from "../../train/corpus/prepare-data.js";
import { readTokenFile } from "../../train/run/data.js";
import { parseRecipe, RECIPES, type Recipe } from "../../train/run/recipe.js";
import { trainRun } from "../../train/run/run.js";
import { type Command, parseCommandLine, positiveIntOption } from "../command.js";

const USAGE = `usage: tritgate train --recipe NAME|FILE.json --mode fp32|qat --out DIR [options]
  --recipe NAME        ${Object.keys(RECIPES).join(", ")}, or a recipe JSON file (see src/train/run/recipe.ts)
  --mode MODE          fp32, or qat (BitNet b1.58 quantization-aware: ternary weights, int8 activations)
  --out DIR            checkpoints, log.jsonl, params.bin and result.json go here
  --data DIR           train.bin / validation.bin (default models/nano/data, rebuilt when missing)
  --resume             continue from DIR/checkpoint.bin
  --steps N            override the recipe's step count
  --stop-after N       checkpoint and stop after step N (the run resumes later)
  --threads N          trainer threads (default: physical cores)`;

async function loadRecipe(spec: string): Promise<Recipe> {
  const named = RECIPES[spec];
  if (named) return named;
  if (!existsSync(spec))
    throw new Error(`--recipe: "${spec}" is neither ${Object.keys(RECIPES).join(", ")} nor a file`);
  return parseRecipe(JSON.parse(await readFile(spec, "utf8")));
}

export const trainCommand: Command = {
  name: "train",
  summary: "train a BitNet-architecture model (fp32 or b1.58 QAT) on the native trainer",
  async run(args) {
    const line = parseCommandLine("train", USAGE, args, {
      recipe: { type: "string" },
      mode: { type: "string" },
      out: { type: "string" },
      data: { type: "string" },
      resume: { type: "boolean" },
      steps: { type: "string" },
      "stop-after": { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    const mode = values.mode;
    if (typeof values.recipe !== "string" || typeof values.out !== "string" || (mode !== "fp32" && mode !== "qat")) {
      console.error(`tritgate train: --recipe, --mode fp32|qat and --out are required\n\n${USAGE}`);
      return 2;
    }
    try {
      let recipe = await loadRecipe(values.recipe);
      const steps = positiveIntOption(values.steps, "steps");
      if (steps !== undefined)
        recipe = parseRecipe({ ...recipe, steps, warmupSteps: Math.min(recipe.warmupSteps, steps) });
      const threads = positiveIntOption(values.threads, "threads");
      if (threads !== undefined) setThreads(threads);
      const dataDir = resolve(typeof values.data === "string" ? values.data : NANO_DATA_DIR);
      await ensureTokenFiles(dataDir, (l) => console.error(l));
      const vocab = recipe.model.vocab;
      const result = await trainRun({
        recipe,
        mode: mode as TrainerMode,
        train: await readTokenFile(join(dataDir, "train.bin"), vocab),
        validation: await readTokenFile(join(dataDir, "validation.bin"), vocab),
        outDir: resolve(values.out),
        resume: values.resume === true,
        stopAfter: positiveIntOption(values["stop-after"], "stop-after"),
        onLog: (l) => console.error(l),
      });
      console.log(JSON.stringify(result));
      return 0;
    } catch (e) {
      console.error(`tritgate train: ${(e as Error).message}`);
      return 1;
    }
  },
};
