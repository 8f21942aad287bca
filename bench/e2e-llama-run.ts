/**
 * One llama.cpp measurement for `npm run bench:e2e`, the anchor beside bench/e2e-run.ts: the same
 * file, prompt and token counts, in its own process, through node-llama-cpp's prebuilt CPU build
 * (test/llama-cpp, installed by test/llama-cpp/install.sh). Prefill is the prompt as one batch up
 * to the first sampled token; decode is greedy sampling of the following tokens, each one
 * evaluated and sampled as a step. One untimed warm-up pass first, as ours has. Prints one JSON line.
 *   tsx bench/e2e-llama-run.ts --model FILE --threads N [--prompt 128] [--decode 64]
 */
import { statSync } from "node:fs";
import { importNodeLlamaCpp } from "./llama-cpp.js";
import { argValue } from "./timing.js";

type Token = number & { __token: never };
interface Sequence {
  evaluate(tokens: Token[], options: { temperature: number }): AsyncGenerator<Token, void, void>;
  clearHistory(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(options: { gpu: false; build: "never"; maxThreads: number; logLevel: string }): Promise<{
    loadModel(options: { modelPath: string; gpuLayers: number; useMmap: boolean }): Promise<{
      createContext(options: {
        contextSize: number;
        batchSize: number;
        threads: { ideal: number; min: number };
        sequences: number;
      }): Promise<{ getSequence(): Sequence; currentThreads: number }>;
    }>;
  }>;
}

const model = argValue("--model") ?? "";
const threads = Number(argValue("--threads") ?? 1);
const promptTokens = Number(argValue("--prompt") ?? 128);
const decodeTokens = Number(argValue("--decode") ?? 64);

const { getLlama } = (await importNodeLlamaCpp()) as NodeLlamaCpp;
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: "error" });
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
// no mmap: the weights are read into memory at load, as tritgate's loader does
const loaded = await llama.loadModel({ modelPath: model, gpuLayers: 0, useMmap: false });
const loadMs = performance.now() - t0;
const contextSize = promptTokens + decodeTokens + 2;
const context = await loaded.createContext({
  contextSize,
  batchSize: promptTokens,
  threads: { ideal: threads, min: threads },
  sequences: 1,
});
const sequence = context.getSequence();
const rssAfterLoad = process.memoryUsage().rss;

// the vocabulary size is what tritgate's run uses too: ids (i * 7919) % vocab
const vocab = Number(argValue("--vocab") ?? 32000);
const prompt = Array.from({ length: promptTokens }, (_, i) => ((i * 7919) % vocab) as Token);

async function run(decode: number): Promise<{ prefillMs: number; decodeMs: number }> {
  await sequence.clearHistory();
  const t1 = performance.now();
  const steps = sequence.evaluate(prompt, { temperature: 0 });
  await steps.next();
  const prefillMs = performance.now() - t1;
  const t2 = performance.now();
  for (let i = 0; i < decode; i++) await steps.next();
  const decodeMs = performance.now() - t2;
  await steps.return();
  return { prefillMs, decodeMs };
}

await run(1);
const { prefillMs, decodeMs } = await run(decodeTokens);
console.log(
  JSON.stringify({
    threads: context.currentThreads,
    loadMs,
    fileBytes: statSync(model).size,
    engine: "llama.cpp",
    rssBefore,
    rssAfterLoad,
    rssPeak: process.resourceUsage().maxRSS * 1024,
    prefillTokensPerSecond: (promptTokens / prefillMs) * 1000,
    decodeTokensPerSecond: (decodeTokens / decodeMs) * 1000,
  }),
);
process.exit(0);
