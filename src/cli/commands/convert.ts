/**
 * `tritgate convert --from-hf DIR --out FILE.gguf [--type T] [--embedding-type E]`
 * `tritgate convert --from-gguf IN.gguf --out OUT.gguf [--type T] [--head-type H]`
 * `tritgate convert --from-gguf IN.gguf --to onnx --out DIR/model.onnx [--kv-type float16]`
 * `tritgate convert --from-gguf IN.gguf --rope-pairs-to-neox --out OUT.gguf`
 * Writes a BitNet GGUF with ternary linear layers, or its fp32 ONNX twin, and prints a summary.
 */
import {
  convertFromGGUF,
  convertFromHF,
  convertRopePairsToNeoX,
  EMBEDDING_TARGETS,
  type EmbeddingTarget,
  formatSummary,
  HEAD_TARGETS,
  type HeadTarget,
  TERNARY_TARGETS,
  type TernaryTarget,
} from "../../convert/index.js";
import { convertToOnnx } from "../../convert/to-onnx.js";
import { type Command, parseCommandLine } from "../command.js";

const USAGE = `usage: tritgate convert --from-hf DIR --out FILE.gguf [options]
       tritgate convert --from-gguf IN.gguf --out OUT.gguf [--type T] [--head-type H]
       tritgate convert --from-gguf IN.gguf --to onnx --out DIR/model.onnx [--kv-type float32|float16]
       tritgate convert --from-gguf IN.gguf --rope-pairs-to-neox --out OUT.gguf
  --from-hf DIR          Hugging Face BitNet checkpoint (config.json, *.safetensors, tokenizer.json)
  --from-gguf FILE       BitNet GGUF with float (or ternary) linear layers to re-quantize
  --out FILE             GGUF to write
  --type T               linear layer packing: ${TERNARY_TARGETS.join(", ")} (default TQ2_0)
  --embedding-type E     token embedding / output head: ${EMBEDDING_TARGETS.join(", ")} (default F16; --from-hf only)
  --head-type H          output head: ${HEAD_TARGETS.map((t) => t.toLowerCase()).join(", ")} (--from-gguf only): output.weight,
                         or the tied token embedding (it stays tied, as llama.cpp expects)
  --to onnx              write the fp32 ONNX decoder (Optimum inputs/outputs) with tokenizer.json,
                         tokenizer_config.json and config.json beside it (weights past 1.8 GB go to OUT.data)
  --kv-type K            KV cache element type of the ONNX decoder: float32 (default) or float16
  --rope-pairs-to-neox   reorder each head's attn_q/attn_k rows of a file laid out for consecutive-pair
                         RoPE (tritgate's GGUFs before NeoX RoPE) so it runs the same under NeoX RoPE`;

function fail(message: string, code: number): number {
  console.error(`tritgate convert: ${message}${code === 2 ? `\n\n${USAGE}` : ""}`);
  return code;
}

export const convertCommand: Command = {
  name: "convert",
  summary: "convert a Hugging Face BitNet checkpoint or a float GGUF into a ternary GGUF, or a GGUF into ONNX",
  async run(args) {
    const line = parseCommandLine("convert", USAGE, args, {
      "from-hf": { type: "string" },
      "from-gguf": { type: "string" },
      out: { type: "string" },
      type: { type: "string" },
      "embedding-type": { type: "string" },
      "head-type": { type: "string" },
      to: { type: "string" },
      "kv-type": { type: "string" },
      "rope-pairs-to-neox": { type: "boolean" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    const fromHF = values["from-hf"] as string | undefined;
    const fromGGUF = values["from-gguf"] as string | undefined;
    const out = values.out as string | undefined;
    if ((fromHF === undefined) === (fromGGUF === undefined))
      return fail("give exactly one of --from-hf and --from-gguf", 2);
    if (out === undefined) return fail("--out is required", 2);
    const to = values.to as string | undefined;
    if (values["rope-pairs-to-neox"] === true) {
      if (fromGGUF === undefined) return fail("--rope-pairs-to-neox needs --from-gguf", 2);
      if (to !== undefined || values.type !== undefined || values["kv-type"] !== undefined) {
        return fail("--rope-pairs-to-neox copies the file as it is: no --to, --type or --kv-type", 2);
      }
      try {
        console.log(formatSummary(await convertRopePairsToNeoX(fromGGUF, out), out));
        return 0;
      } catch (e) {
        return fail((e as Error).message, 1);
      }
    }
    if (to !== undefined) {
      if (to !== "onnx") return fail(`--to must be onnx, got ${to}`, 2);
      if (fromGGUF === undefined) return fail("--to onnx needs --from-gguf", 2);
      const kvType = (values["kv-type"] as string | undefined) ?? "float32";
      if (kvType !== "float32" && kvType !== "float16") return fail(`--kv-type must be float32 or float16`, 2);
      try {
        const s = await convertToOnnx(fromGGUF, out, { kvType });
        console.log(
          `wrote ${out}${s.dataPath ? ` (+ ${s.dataPath})` : ""}: ${s.nodes} nodes, ${s.initializers} initializers, ` +
            `${(s.bytesIn / 1e6).toFixed(1)} MB in → ${(s.bytesOut / 1e6).toFixed(1)} MB out, ${s.seconds.toFixed(1)} s`,
        );
        return 0;
      } catch (e) {
        return fail((e as Error).message, 1);
      }
    }
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
    const headTypeArg = values["head-type"] as string | undefined;
    const headType = HEAD_TARGETS.find((t) => t === headTypeArg?.toUpperCase());
    if (headTypeArg !== undefined) {
      if (fromGGUF === undefined) return fail("--head-type applies to --from-gguf only", 2);
      if (headType === undefined) {
        return fail(
          `--head-type must be one of ${HEAD_TARGETS.map((t) => t.toLowerCase()).join(", ")}, got ${headTypeArg}`,
          2,
        );
      }
    }
    try {
      const summary =
        fromHF !== undefined
          ? await convertFromHF(fromHF, out, {
              type: type as TernaryTarget,
              embeddingType: embeddingType as EmbeddingTarget | undefined,
            })
          : await convertFromGGUF(fromGGUF as string, out, type as TernaryTarget, { headType: headType as HeadTarget });
      console.log(formatSummary(summary, out));
      return 0;
    } catch (e) {
      return fail((e as Error).message, 1);
    }
  },
};
