/**
 * `npx tsx bench/batch-decode.ts [--model FILE] [--threads 2] [--batches 1,4,8,16] [--steps 8] [--json FILE]`
 *
 * Aggregate decode tokens/s of `BitNetEngine.forwardBatch` at several batch sizes: n sequences,
 * each prefilled with a short prompt, then `steps` steps in which all n decode one token. Without
 * --model it writes the 2B-4T-shaped synthetic TQ2_0 model that bench:e2e uses (bench/.models).
 * A quick measurement for the batched forward pass; the scheduler's own bench is bench:concurrency.
 * Beside the wall clock it reports the process's CPU time per step (user + system): on a shared,
 * oversubscribed machine the wall clock mostly measures the scheduler, while CPU time at
 * --threads 1 is the work itself (at 2 threads it includes the pool's spinning).
 */
import { loadavg } from "node:os";
import { hardware, setThreads } from "../kernels/index.js";
import { loadBitNetEngine } from "../src/engines/bitnet/index.js";
import { ensureSyntheticModel, shapeNamed } from "./synthetic.js";
import { argValue, table, writeJson } from "./timing.js";

const threads = Number(argValue("--threads") ?? 2);
const batches = (argValue("--batches") ?? "1,4,8,16").split(",").map(Number);
const steps = Number(argValue("--steps") ?? 8);
const jsonPath = argValue("--json");

setThreads(threads);
const model = argValue("--model") ?? (await ensureSyntheticModel(shapeNamed("2B-4T"), "TQ2_0"));
const engine = await loadBitNetEngine(model, { contextLength: 256 });
const prompt = Array.from({ length: 8 }, (_, i) => 300 + i);
interface BatchRow {
  readonly batch: number;
  readonly stepMs: number;
  readonly tokensPerSecond: number;
  readonly cpuStepMs: number;
  readonly tokensPerCpuSecond: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
}
const rows: BatchRow[] = [];
for (const batch of batches) {
  const sessions = Array.from({ length: batch }, () => engine.newSession(prompt.length + steps + 2));
  engine.forwardBatch(sessions.map((session, i) => ({ session, tokens: prompt.map((t) => t + i) })));
  const loadBefore = loadavg()[0] ?? 0;
  // one untimed decode step (first touch of the decode-sized scratch), then the timed ones
  engine.forwardBatch(sessions.map((session) => ({ session, tokens: [400] })));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < steps; s++) engine.forwardBatch(sessions.map((session) => ({ session, tokens: [401 + s] })));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  for (const s of sessions) s.close();
  rows.push({
    batch,
    stepMs: ms / steps,
    tokensPerSecond: (batch * steps * 1000) / ms,
    cpuStepMs: cpuMs / steps,
    tokensPerCpuSecond: (batch * steps * 1000) / cpuMs,
    loadBefore,
    loadAfter: loadavg()[0] ?? 0,
  });
  process.stderr.write(`batch ${batch}: ${(ms / steps).toFixed(1)} ms/step\n`);
}
const single = rows[0]?.tokensPerSecond ?? 1;
const singleCpu = rows[0]?.tokensPerCpuSecond ?? 1;
console.log(`${model}, ${threads} threads, isa ${hardware().isa}`);
console.log(
  table(
    [
      "batch",
      "ms/step",
      "aggregate tok/s",
      "vs batch 1",
      "CPU ms/step",
      "tok per CPU s",
      "vs batch 1",
      "load avg (1 min) before/after",
    ],
    rows.map((r) => [
      String(r.batch),
      r.stepMs.toFixed(1),
      r.tokensPerSecond.toFixed(1),
      (r.tokensPerSecond / single).toFixed(2),
      r.cpuStepMs.toFixed(1),
      r.tokensPerCpuSecond.toFixed(2),
      (r.tokensPerCpuSecond / singleCpu).toFixed(2),
      `${r.loadBefore.toFixed(1)} / ${r.loadAfter.toFixed(1)}`,
    ]),
  ),
);
if (jsonPath) writeJson(jsonPath, { model, threads, isa: hardware().isa, steps, rows });
