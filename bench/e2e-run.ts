/**
 * One measurement for `npm run bench:e2e`, in its own process so RSS and thread count are its
 * own: load a model, prefill a prompt as one batch, decode greedily. Prints one JSON line.
 *   tsx bench/e2e-run.ts --model FILE --threads N [--prompt 128] [--decode 64]
 */
import { setThreads } from "../kernels/index.js";
import { BitNetForward, loadBitNetWeights, readBitNetConfig } from "../src/engines/bitnet/index.js";
import { readGGUF } from "../src/formats/gguf/index.js";
import { argValue } from "./timing.js";

const model = argValue("--model") ?? "";
const threads = Number(argValue("--threads") ?? 1);
const promptTokens = Number(argValue("--prompt") ?? 128);
const decodeTokens = Number(argValue("--decode") ?? 64);
setThreads(threads);

const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const file = await readGGUF(model);
const config = readBitNetConfig(file);
const forward = new BitNetForward(config, loadBitNetWeights(file, config));
const loadMs = performance.now() - t0;
const cache = forward.newCache(promptTokens + decodeTokens + 1);
const rssAfterLoad = process.memoryUsage().rss;

const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919) % config.vocabSize);
const t1 = performance.now();
let logits = forward.forward(prompt, cache);
const prefillMs = performance.now() - t1;

const argmax = (row: Float32Array) => {
  let best = 0;
  for (let j = 1; j < row.length; j++) if ((row[j] ?? 0) > (row[best] ?? 0)) best = j;
  return best;
};
const t2 = performance.now();
for (let i = 0; i < decodeTokens; i++) logits = forward.forward([argmax(logits)], cache);
const decodeMs = performance.now() - t2;

const fileBytes = file.tensors.reduce((a, t) => a + t.byteSize, 0);
console.log(
  JSON.stringify({
    threads,
    loadMs,
    fileBytes,
    kvCacheBytes: cache.bytes,
    rssBefore,
    rssAfterLoad,
    rssPeak: process.resourceUsage().maxRSS * 1024,
    prefillTokensPerS: (promptTokens / prefillMs) * 1000,
    decodeTokensPerS: (decodeTokens / decodeMs) * 1000,
  }),
);
