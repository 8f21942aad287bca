/**
 * One measurement for `npm run bench:e2e`, in its own process so RSS and thread count are its
 * own: load a model (BitNet .gguf or ONNX .onnx), prefill a prompt as one batch, decode
 * greedily, after one untimed warm-up pass. Prints one JSON line.
 *   tsx bench/e2e-run.ts --model FILE --threads N [--prompt 128] [--decode 64] [--profile]
 * --profile (BitNet files) adds the decode steps' time per forward-pass step, in ms per token.
 */
import { statSync } from "node:fs";
import { setThreads } from "../kernels/index.js";
import { loadBitNetEngine, StepProfile } from "../src/engines/bitnet/index.js";
import type { LogitsSession } from "../src/engines/engine.js";
import { loadEngine } from "../src/engines/load.js";
import { argValue } from "./timing.js";

const model = argValue("--model") ?? "";
const threads = Number(argValue("--threads") ?? 1);
const promptTokens = Number(argValue("--prompt") ?? 128);
const decodeTokens = Number(argValue("--decode") ?? 64);
setThreads(threads);

const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const profile = process.argv.includes("--profile") ? new StepProfile() : undefined;
const contextLength = promptTokens + decodeTokens + 1;
const engine = profile
  ? await loadBitNetEngine(model, { contextLength, profile })
  : await loadEngine(model, { threads, contextLength });
const loadMs = performance.now() - t0;
const session: LogitsSession = engine.newSession();
const rssAfterLoad = process.memoryUsage().rss;

const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919) % engine.vocabSize);
// one untimed pass first: the first call starts the kernel pool, sizes scratch buffers and warms the
// JIT, which would otherwise dominate a small model's timings
{
  const warm = engine.newSession(prompt.length + 2);
  await warm.append(prompt);
  await warm.append([1]);
  warm.close?.();
}
const t1 = performance.now();
let logits = await session.append(prompt);
const prefillMs = performance.now() - t1;

const argmax = (row: Float32Array) => {
  let best = 0;
  for (let j = 1; j < row.length; j++) if ((row[j] ?? 0) > (row[best] ?? 0)) best = j;
  return best;
};
profile?.reset();
const t2 = performance.now();
for (let i = 0; i < decodeTokens; i++) {
  const next = argmax(logits);
  profile?.lap("sampling");
  logits = await session.append([next]);
}
const decodeMs = performance.now() - t2;

const dataFile = `${model}.data`;
const fileBytes =
  statSync(model).size + (model.endsWith(".onnx") ? (statSync(dataFile, { throwIfNoEntry: false })?.size ?? 0) : 0);
console.log(
  JSON.stringify({
    threads,
    loadMs,
    fileBytes,
    engine: engine.kind,
    rssBefore,
    rssAfterLoad,
    rssPeak: process.resourceUsage().maxRSS * 1024,
    prefillTokensPerSecond: (promptTokens / prefillMs) * 1000,
    decodeTokensPerSecond: (decodeTokens / decodeMs) * 1000,
    ...(profile && {
      decodeProfile: profile.steps().map((p) => ({ ...p, ms: p.ms / decodeTokens, calls: p.calls / decodeTokens })),
    }),
  }),
);
