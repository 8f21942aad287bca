/**
 * `tritgate eval --variant NAME [--split test]` (or `--model FILE [--reference FILE]`):
 * perplexity on a held-out split, next-token top-1 agreement with the family's reference
 * variant, and tokens/s (src/eval). Variants and references are resolved through the gateway
 * config (the embedded default when none is given) and scored with their `kvCacheType`, as the
 * gateway serves them; the result is printed as JSON, written to
 * --out (default: eval.json beside a variant's model), and, for the test split, into the
 * card.json beside the model when that card describes the file.
 */
import { join, resolve } from "node:path";
import { isKvCacheType, type KvCacheType } from "../../../kernels/index.js";
import { loadConfig } from "../../config/index.js";
import { recordInCard } from "../../eval/card.js";
import { evaluateVariant, writeEvalResult } from "../../eval/index.js";
import { ensureTokenFiles, NANO_DATA_DIR } from "../../train/corpus/prepare-data.js";
import { readTokenFile } from "../../train/run/data.js";
import { type Command, parseCommandLine, positiveIntOption } from "../command.js";

const USAGE = `usage: tritgate eval --variant NAME | --model FILE [options]
  --variant NAME     a variant of the gateway config; its family's reference variant is the reference
  --model FILE       a model file (.gguf or .onnx) instead of a configured variant
  --reference FILE   reference model for top-1 agreement and quality (default: the family's reference)
  --split NAME       test (default) or validation, from --data
  --data DIR         token files and tokenizer (default models/nano/data)
  --window N         tokens per scored window (default 257: the nano context + 1)
  --max-tokens N     score only the first N tokens of the split
  --threads N        engine threads (default: physical cores)
  --kv-cache TYPE    f32 or f16: what a BitNet model's KV cache stores while scored (default: the variant's
                     kvCacheType as the gateway serves it; f32, the engine's own, for --model)
  --config FILE      gateway config (default: TRITGATE_CONFIG, ./tritgate.yaml, or the embedded one)
  --out FILE         where the JSON result goes (default: eval.json beside a variant's model; none for --model)`;

export const evalCommand: Command = {
  name: "eval",
  summary: "measure a variant: test perplexity, top-1 agreement with the reference, tokens/s",
  async run(args) {
    const line = parseCommandLine("eval", USAGE, args, {
      variant: { type: "string" },
      model: { type: "string" },
      reference: { type: "string" },
      split: { type: "string" },
      data: { type: "string" },
      window: { type: "string" },
      "max-tokens": { type: "string" },
      threads: { type: "string" },
      "kv-cache": { type: "string" },
      config: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    const split = (values.split as string | undefined) ?? "test";
    const kvCacheArg = values["kv-cache"] as string | undefined;
    if (
      (values.variant === undefined) === (values.model === undefined) ||
      !["test", "validation"].includes(split) ||
      (kvCacheArg !== undefined && !isKvCacheType(kvCacheArg))
    ) {
      console.error(
        `tritgate eval: give exactly one of --variant or --model; --split is test or validation; --kv-cache is f32 or f16\n\n${USAGE}`,
      );
      return 2;
    }
    let kvCacheType: KvCacheType | undefined =
      kvCacheArg !== undefined && isKvCacheType(kvCacheArg) ? kvCacheArg : undefined;
    let referenceKvCacheType: KvCacheType | undefined = kvCacheType;
    try {
      let model = values.model === undefined ? undefined : resolve(values.model as string);
      let reference = values.reference === undefined ? undefined : resolve(values.reference as string);
      let out = values.out === undefined ? undefined : resolve(values.out as string);
      if (values.variant !== undefined) {
        const config = loadConfig(values.config as string | undefined);
        const variant = config.variants.find((v) => v.name === values.variant);
        if (!variant) {
          throw new Error(
            `no variant "${values.variant}" in ${config.source} (${config.variants.map((v) => v.name).join(", ")})`,
          );
        }
        model = variant.path;
        kvCacheType ??= variant.kvCacheType;
        const family = config.families.find((f) => f.name === variant.family);
        const ref = config.variants.find((v) => v.name === family?.reference);
        if (reference === undefined && ref) {
          reference = ref.path;
          // the reference is scored as the gateway serves it too
          referenceKvCacheType ??= ref.kvCacheType;
        }
        out ??= join(resolve(model, ".."), split === "test" ? "eval.json" : `eval-${split}.json`);
      }
      const dataDir = resolve((values.data as string | undefined) ?? NANO_DATA_DIR);
      await ensureTokenFiles(dataDir, (l) => console.error(l));
      const tokens = await readTokenFile(join(dataDir, `${split}.bin`), 65536);
      const result = await evaluateVariant({
        model: model!,
        reference: reference === model ? undefined : reference,
        tokens,
        window: positiveIntOption(values.window, "window") ?? 257,
        maxTokens: positiveIntOption(values["max-tokens"], "max-tokens"),
        threads: positiveIntOption(values.threads, "threads"),
        load: kvCacheType === undefined ? undefined : { kvCacheType },
        referenceLoad: referenceKvCacheType === undefined ? undefined : { kvCacheType: referenceKvCacheType },
      });
      const withQuality =
        reference === model
          ? { ...result, referencePerplexity: result.perplexity, quality: 1, top1Agreement: 1 }
          : result;
      if (out) await writeEvalResult(out, withQuality);
      // the test split is what cards carry; a validation run leaves the card alone
      const card = split === "test" ? await recordInCard(model!, withQuality, split) : undefined;
      if (card) console.error(`tritgate eval: updated ${card}`);
      console.log(JSON.stringify(withQuality, null, 2));
      return 0;
    } catch (e) {
      console.error(`tritgate eval: ${(e as Error).message}`);
      return 1;
    }
  },
};
