/**
 * `npx tsx bench/pool-batch.ts [--model FILE] [--streams 1,8] [--tokens 128] [--rounds 5] [--threads 1] [--against DIR]`
 *
 * A paired check of continuous batching through the real pool: two workers on the same model, one
 * batching (the step scheduler) and one running each generation alone (`batching: false`), both with
 * 8 slots; for each round and stream count, the same greedy requests on each worker in turn.
 * Reports aggregate decode tokens/s (wall clock) and the process's CPU time per generated token
 * (user + system, both threads): on a shared machine the wall clock mostly measures the OS
 * scheduler, CPU time the work. Not bench:concurrency (p95 TTFT, the 2B-4T shape, llama.cpp).
 *
 * `--against DIR`: DIR holds another commit's `src/` (e.g. `git archive <commit> src kernels/*.ts |
 * tar -x -C DIR`, with `node_modules` and `kernels/build` linked from here); its batching worker runs
 * as a third mode, "against", interleaved with the others, for a before/after in the same run.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startVariantWorker, type VariantWorker } from "../src/engines/pool/index.js";
import { argValue, table } from "./timing.js";

const model = argValue("--model") ?? join(import.meta.dirname, "../models/nano/nano-b158/model.gguf");
const streams = (argValue("--streams") ?? "1,8").split(",").map(Number);
const tokens = Number(argValue("--tokens") ?? 128);
const rounds = Number(argValue("--rounds") ?? 5);
const threads = Number(argValue("--threads") ?? 1);
const against = argValue("--against");

async function round(worker: VariantWorker, n: number): Promise<{ tokensPerSecond: number; cpuMsPerToken: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      worker.generate({
        input: { kind: "text", text: `Story ${i}: once upon a time` },
        maxTokens: tokens,
        sampling: { temperature: 0 },
        ignoreEos: true,
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const generated = results.reduce((a, r) => a + r.completionTokens, 0);
  return { tokensPerSecond: generated / seconds, cpuMsPerToken: (cpu.user + cpu.system) / 1000 / generated };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const workers: Record<string, VariantWorker> = {
  batched: startVariantWorker({ name: "batched", path: model, threads, slots: 8 }),
  alone: startVariantWorker({ name: "alone", path: model, threads, slots: 8, batching: false }),
};
if (against !== undefined) {
  const other = (await import(pathToFileURL(join(against, "src/engines/pool/index.ts")).href)) as {
    startVariantWorker: typeof startVariantWorker;
  };
  workers.against = other.startVariantWorker({ name: "against", path: model, threads, slots: 8 });
}
await Promise.all(Object.values(workers).map((w) => w.ready));
const samples = new Map<string, { tps: number[]; cpu: number[] }>();
const loadBefore = loadavg()[0]!;
for (const w of Object.values(workers)) await round(w, 2); // warm up
for (let r = 0; r < rounds; r++) {
  for (const n of streams) {
    for (const [mode, worker] of Object.entries(workers)) {
      const { tokensPerSecond, cpuMsPerToken } = await round(worker, n);
      const key = `${mode} ${n}`;
      const s = samples.get(key) ?? { tps: [], cpu: [] };
      s.tps.push(tokensPerSecond);
      s.cpu.push(cpuMsPerToken);
      samples.set(key, s);
    }
  }
}
const loadAfter = loadavg()[0]!;
console.log(`model ${model}, threads ${threads}, ${tokens} tokens a stream, ${rounds} rounds (medians)`);
if (against !== undefined) console.log(`against: the batching worker of ${against}`);
console.log(`load average (1 min) ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`);
console.log(
  table(
    ["mode", "streams", "tok/s", "CPU ms/token"],
    [...samples].map(([key, s]) => {
      const [mode, n] = key.split(" ");
      return [mode!, n!, median(s.tps).toFixed(0), median(s.cpu).toFixed(3)];
    }),
  ),
);
console.log(`batched worker: ${JSON.stringify(workers.batched!.batchSteps)}`);
await Promise.all(Object.values(workers).map((w) => w.close()));
