// The worker's entry when tritgate runs from its TypeScript sources (vitest, tsx): registers tsx
// in this thread, then loads worker.ts. Built code (dist/) starts worker.js directly.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
