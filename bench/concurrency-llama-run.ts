/**
 * llama.cpp's side of bench:concurrency, in its own process: the same file through node-llama-cpp's
 * prebuilt CPU build (test/llama-cpp/install.sh), one context with `--sequences` sequences, one
 * greedy generation of `--tokens` tokens on each at once (node-llama-cpp batches the sequences'
 * pending tokens into one llama_decode per step, as llama-server does with its slots), the same
 * fixed prompts as tritgate's streams. One untimed warm-up generation first. Prints one JSON line:
 * every round's streams and CPU time as a Round (bench/concurrency-stats.ts) for the parent to summarise.
 *   tsx bench/concurrency-llama-run.ts --model FILE --threads N --sequences S --tokens T [--rounds R]
 */
import { promptFor } from "./concurrency-prompts.js";
import { type Round, type StreamTrace, withCpuTime } from "./concurrency-stats.js";
import { importNodeLlamaCpp } from "./llama-cpp.js";
import { argValue } from "./timing.js";

type Token = number & { __token: never };
interface Sequence {
  evaluate(tokens: Token[], options: { temperature: number }): AsyncGenerator<Token, void, void>;
  clearHistory(): Promise<void>;
}
interface Model {
  tokenize(text: string): Token[];
  readonly tokens: { readonly bos: Token | null; readonly shouldPrependBosToken: boolean };
  createContext(options: {
    contextSize: number;
    threads: { ideal: number; min: number };
    sequences: number;
  }): Promise<{ getSequence(): Sequence; readonly currentThreads: number }>;
}
interface NodeLlamaCpp {
  getLlama(options: { gpu: false; build: "never"; maxThreads: number; logLevel: string }): Promise<{
    loadModel(options: { modelPath: string; gpuLayers: number; useMmap: boolean }): Promise<Model>;
  }>;
}

const modelPath = argValue("--model") ?? "";
const threads = Number(argValue("--threads") ?? 2);
const sequences = Number(argValue("--sequences") ?? 1);
const tokens = Number(argValue("--tokens") ?? 32);
const rounds = Number(argValue("--rounds") ?? 1);

const { getLlama } = (await importNodeLlamaCpp()) as NodeLlamaCpp;
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: "error" });
// no mmap: the weights are read into memory at load, as tritgate's loader does
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: false });
const prompts = Array.from({ length: sequences }, (_, i) => {
  const ids = model.tokenize(promptFor(i));
  return model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos, ...ids] : ids;
});
const longest = Math.max(...prompts.map((p) => p.length));
// per sequence: node-llama-cpp sizes the KV cache as contextSize x sequences
const context = await model.createContext({
  contextSize: longest + tokens + 8,
  threads: { ideal: threads, min: threads },
  sequences,
});
const seqs = Array.from({ length: sequences }, () => context.getSequence());

async function generate(sequence: Sequence, prompt: Token[], count: number): Promise<StreamTrace> {
  await sequence.clearHistory();
  const tokenTimes: number[] = [];
  const submittedAt = performance.now();
  const steps = sequence.evaluate(prompt, { temperature: 0 });
  for (let i = 0; i < count; i++) {
    const step = await steps.next();
    if (step.done) throw new Error(`llama.cpp ended a sequence after ${i} tokens`);
    tokenTimes.push(performance.now());
  }
  await steps.return();
  return { submittedAt, tokenTimes };
}

await generate(seqs[0] as Sequence, prompts[0] as Token[], 2);
const traces: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const { value, cpuMs } = await withCpuTime(() =>
    Promise.all(seqs.map((s, i) => generate(s, prompts[i] as Token[], tokens))),
  );
  traces.push({ traces: value, cpuMs });
}
console.log(
  JSON.stringify({
    sequences,
    threads: context.currentThreads,
    promptTokens: prompts.map((p) => p.length),
    rounds: traces,
  }),
);
process.exit(0);
