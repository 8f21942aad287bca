/**
 * `tritgate family --recipe nano --runs runs/nano --out models/nano`
 * After `tritgate train` has run a recipe in both modes: exports the family's variants (QAT →
 * ternary GGUF, fp32 → ONNX, fp32 → post-training ternary GGUF), evaluates each on the test split
 * against the fp32 reference and writes their cards (src/train/family.ts).
 */
import { resolve } from "node:path";
import { ensureTokenFiles, NANO_DATA_DIR } from "../../train/corpus/prepare-data.js";
import { buildFamily } from "../../train/family.js";
import { RECIPES } from "../../train/run/recipe.js";
import { type Command, parseCommandLine, positiveIntOption } from "../command.js";

const USAGE = `usage: tritgate family --recipe NAME --runs DIR --out DIR [--data DIR] [--threads N]
  --recipe NAME   the recipe both runs used (${Object.keys(RECIPES).join(", ")})
  --runs DIR      holds fp32/ and qat/ (the --out folders of tritgate train)
  --out DIR       the family folder, e.g. models/nano (variants go in <name>-b158, <name>-fp32, <name>-b158-ptq)
  --data DIR      tokenizer, split and token files (default models/nano/data)
  --threads N     threads for evaluation (default: physical cores)`;

export const familyCommand: Command = {
  name: "family",
  summary: "export, evaluate and write model cards for a trained family (after tritgate train)",
  async run(args) {
    const line = parseCommandLine("family", USAGE, args, {
      recipe: { type: "string" },
      runs: { type: "string" },
      out: { type: "string" },
      data: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    const recipe = typeof values.recipe === "string" ? RECIPES[values.recipe] : undefined;
    if (!recipe || typeof values.runs !== "string" || typeof values.out !== "string") {
      console.error(`tritgate family: --recipe (a known recipe), --runs and --out are required\n\n${USAGE}`);
      return 2;
    }
    let threads: number | undefined;
    try {
      threads = positiveIntOption(values.threads, "threads");
    } catch (e) {
      console.error(`tritgate family: ${(e as Error).message}`);
      return 2;
    }
    try {
      const dataDir = resolve(typeof values.data === "string" ? values.data : NANO_DATA_DIR);
      await ensureTokenFiles(dataDir, (l) => console.error(l));
      const cards = await buildFamily({
        recipe,
        runsDir: resolve(values.runs),
        outDir: resolve(values.out),
        dataDir,
        threads,
        log: (l) => console.error(`tritgate family: ${l}`),
      });
      for (const c of cards) {
        console.log(
          `${c.name.padEnd(22)} ppl ${c.quality.perplexity.toFixed(2).padStart(7)}  quality ${c.quality.quality.toFixed(3)}  ${(c.bytesOnDisk / 1e6).toFixed(2)} MB  decode ${c.decodeTokensPerSecond.toFixed(0)} tok/s`,
        );
      }
      return 0;
    } catch (e) {
      console.error(`tritgate family: ${(e as Error).message}`);
      return 1;
    }
  },
};
