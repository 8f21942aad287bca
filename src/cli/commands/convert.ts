/**
 * `tritgate convert --from-hf DIR --out FILE.gguf [--type T] [--embedding-type E]`
 * `tritgate convert --from-gguf IN.gguf --out OUT.gguf [--type T]`
 * Writes a BitNet GGUF with ternary linear layers and prints a one-line summary.
 */
import { parseArgs } from "node:util";
import {
  convertFromGGUF,
  convertFromHF,
  EMBEDDING_TARGETS,
  type EmbeddingTarget,
  formatSummary,
  TERNARY_TARGETS,
  type TernaryTarget,
} from "../../convert/index.js";
import type { Command } from "../command.js";

const USAGE = `usage: tritgate convert --from-hf DIR --out FILE.gguf [options]
       tritgate convert --from-gguf IN.gguf --out OUT.gguf [--type T]
  --from-hf DIR          Hugging Face BitNet checkpoint (config.json, *.safetensors, tokenizer.json)
  --from-gguf FILE       BitNet GGUF with float (or ternary) linear layers to re-quantize
  --out FILE             GGUF to write
  --type T               linear layer packing: ${TERNARY_TARGETS.join(", ")} (default TQ2_0)
  --embedding-type E     token embedding / output head: ${EMBEDDING_TARGETS.join(", ")} (default F16; --from-hf only)`;

function fail(message: string, code: number): number {
  console.error(`tritgate convert: ${message}${code === 2 ? `\n\n${USAGE}` : ""}`);
  return code;
}

export const convertCommand: Command = {
  name: "convert",
  summary: "convert a Hugging Face BitNet checkpoint or a float GGUF into a ternary GGUF",
  async run(args) {
    let values: ReturnType<typeof parseArgs>["values"];
    try {
      ({ values } = parseArgs({
        args: [...args],
        options: {
          "from-hf": { type: "string" },
          "from-gguf": { type: "string" },
          out: { type: "string" },
          type: { type: "string" },
          "embedding-type": { type: "string" },
          help: { type: "boolean" },
        },
      }));
    } catch (e) {
      return fail((e as Error).message, 2);
    }
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const fromHF = values["from-hf"] as string | undefined;
    const fromGGUF = values["from-gguf"] as string | undefined;
    const out = values.out as string | undefined;
    if ((fromHF === undefined) === (fromGGUF === undefined))
      return fail("give exactly one of --from-hf and --from-gguf", 2);
    if (out === undefined) return fail("--out is required", 2);
    const type = (values.type as string | undefined) ?? "TQ2_0";
    if (!(TERNARY_TARGETS as readonly string[]).includes(type)) {
      return fail(`--type must be one of ${TERNARY_TARGETS.join(", ")}, got ${type}`, 2);
    }
    const embeddingType = values["embedding-type"] as string | undefined;
    if (embeddingType !== undefined) {
      if (fromHF === undefined) return fail("--embedding-type applies to --from-hf only", 2);
      if (!(EMBEDDING_TARGETS as readonly string[]).includes(embeddingType)) {
        return fail(`--embedding-type must be one of ${EMBEDDING_TARGETS.join(", ")}, got ${embeddingType}`, 2);
      }
    }
    try {
      const summary =
        fromHF !== undefined
          ? await convertFromHF(fromHF, out, {
              type: type as TernaryTarget,
              embeddingType: embeddingType as EmbeddingTarget | undefined,
            })
          : await convertFromGGUF(fromGGUF as string, out, type as TernaryTarget);
      console.log(formatSummary(summary, out));
      return 0;
    } catch (e) {
      return fail((e as Error).message, 1);
    }
  },
};
