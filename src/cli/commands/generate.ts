/**
 * `tritgate generate --model FILE --prompt "…" [--chat] [--max-tokens N] [--seed S] …`
 * Streams the completion to stdout; speed figures go to stderr so stdout stays the text.
 */
import { ISAS, type Isa, setThreads } from "../../../kernels/index.js";
import { loadEngine } from "../../engines/load.js";
import type { SamplingParams } from "../../engines/sampler/index.js";
import { type Command, parseCommandLine } from "../command.js";

const USAGE = `usage: tritgate generate --model FILE.gguf|FILE.onnx --prompt TEXT [options]
  --chat               wrap the prompt as a user message in the model's chat template
  --max-tokens N       tokens to generate (default 128)
  --temperature T      0 = greedy (default 0.8)
  --top-k N, --top-p P, --min-p P, --repeat-penalty R
  --seed S             same seed and prompt → same text
  --stop TEXT          stop string (repeatable)
  --threads N          kernel threads (default: physical cores)
  --isa NAME           force a kernel path: ${ISAS.join(", ")}
  --ctx N              context length to allocate (default: the model's)
  --ignore-eos         keep generating past end-of-sequence (benchmarks)`;

function numberOption(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n)) throw new Error(`--${name} must be a number`);
  return n;
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate text from a model file (BitNet .gguf or ONNX decoder .onnx) and report tokens/s",
  async run(args) {
    const line = parseCommandLine("generate", USAGE, args, {
      model: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "boolean" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "min-p": { type: "string" },
      "repeat-penalty": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true },
      threads: { type: "string" },
      isa: { type: "string" },
      ctx: { type: "string" },
      "ignore-eos": { type: "boolean" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    const model = values.model;
    const prompt = values.prompt;
    if (typeof model !== "string" || typeof prompt !== "string") {
      console.error(`tritgate generate: --model and --prompt are required\n\n${USAGE}`);
      return 2;
    }
    try {
      const isa = values.isa as string | undefined;
      if (isa !== undefined && !(ISAS as readonly string[]).includes(isa))
        throw new Error(`--isa must be one of ${ISAS.join(", ")}`);
      const threads = numberOption(values, "threads");
      if (threads !== undefined) setThreads(threads);
      const sampling: SamplingParams = {
        temperature: numberOption(values, "temperature") ?? 0.8,
        topK: numberOption(values, "top-k"),
        topP: numberOption(values, "top-p"),
        minP: numberOption(values, "min-p"),
        repetitionPenalty: numberOption(values, "repeat-penalty"),
        seed: numberOption(values, "seed"),
      };
      const t0 = performance.now();
      const engine = await loadEngine(model, {
        isa: isa as Isa | undefined,
        contextLength: numberOption(values, "ctx"),
      });
      const loadMs = performance.now() - t0;
      const ids = values.chat
        ? engine.encodeChat([{ role: "user", content: prompt }])
        : engine.tokenizer.encode(prompt, { addSpecial: true });
      if (!values.chat) process.stdout.write(prompt);
      const result = await engine.generate(
        {
          prompt: ids,
          maxTokens: numberOption(values, "max-tokens") ?? 128,
          sampling,
          stop: (values.stop as string[] | undefined) ?? [],
          ignoreEos: values["ignore-eos"] === true,
        },
        (token) => process.stdout.write(token.text),
      );
      const tail = result.text.slice(result.tokens.reduce((n, t) => n + t.text.length, 0));
      process.stdout.write(`${tail}\n`);
      const perSecond = (tokens: number, ms: number) => (ms > 0 ? (tokens / ms) * 1000 : 0).toFixed(1);
      console.error(
        `\n[${engine.kind}] load ${loadMs.toFixed(0)} ms | prompt ${result.promptTokens} tokens, ` +
          `${perSecond(result.promptTokens, result.prefillMs)} tok/s | generated ${result.completionTokens} tokens, ` +
          `${perSecond(Math.max(0, result.completionTokens - 1), result.decodeMs)} tok/s | finish: ${result.finishReason}`,
      );
      await engine.close();
      return 0;
    } catch (e) {
      console.error(`tritgate generate: ${(e as Error).message}`);
      return 1;
    }
  },
};
