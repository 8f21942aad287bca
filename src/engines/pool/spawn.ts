/**
 * Starts the worker script beside this module: `worker.js` when running the build (dist/), or
 * `worker.ts` through tsx when running the TypeScript sources (vitest, tsx).
 */
import { Worker } from "node:worker_threads";
import type { WorkerInit } from "./protocol.js";

export function spawnWorker(init: WorkerInit): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  if (!fromSource) return new Worker(new URL("./worker.js", import.meta.url), { workerData: init });
  const entry = new URL("./worker.ts", import.meta.url).href;
  return new Worker(new URL("./tsx-entry.mjs", import.meta.url), { workerData: { ...init, entry } });
}
