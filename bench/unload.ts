/**
 * `npx tsx bench/unload.ts [bitnet|onnx]` (run once per engine; each in its own process)
 *
 * What idle unloading gives back and what the next request pays, on a committed nano variant: the
 * gateway process's RSS with the variant loaded (after one generation), after its idle unload, and
 * after the request that reloads it; the engine's own load time (`VariantInfo.loadMs`), the handle's
 * thread-start-to-ready time the router is told (`pendingLoadMs`), and that request's wall time.
 * RSS is read 1.5 s after each step, with a GC first when node runs with --expose-gc.
 */
import { join } from "node:path";
import { startVariantWorker } from "../src/engines/pool/index.js";

const ROOT = join(import.meta.dirname, "..");
const engine = process.argv[2] === "onnx" ? "onnx" : "bitnet";
const path = join(ROOT, engine === "onnx" ? "models/nano/nano-fp32/model.onnx" : "models/nano/nano-b158/model.gguf");
const IDLE_MS = 3000;
const request = {
  input: { kind: "chat" as const, messages: [{ role: "user", content: "Hello there" }] },
  maxTokens: 32,
  sampling: { temperature: 0 },
  ignoreEos: true,
};

const rssMb = () => Math.round(process.memoryUsage().rss / 1e5) / 10;
const settle = async () => {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 1500));
};

const baseline = rssMb();
const worker = startVariantWorker({ name: engine, path, threads: 1, idleUnloadMs: IDLE_MS });
const first = await worker.ready;
await worker.generate(request);
await settle();
const loaded = rssMb();
while (worker.state !== "unloaded") await new Promise((resolve) => setTimeout(resolve, 50));
await settle();
const unloaded = rssMb();
const predictedLoadMs = worker.pendingLoadMs;
const started = performance.now();
await worker.generate(request);
const coldRequestMs = performance.now() - started;
await settle();
const reloaded = rssMb();
console.log(
  JSON.stringify({
    model: path.split("/").slice(-2).join("/"),
    rssMb: { baseline, loaded, unloaded, reloaded },
    engineLoadMs: { first: Math.round(first.loadMs), reload: Math.round(worker.info?.loadMs ?? 0) },
    predictedLoadMs: Math.round(predictedLoadMs),
    coldRequestMs: Math.round(coldRequestMs),
  }),
);
await worker.close();
