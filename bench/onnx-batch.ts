/**
 * `npx tsx bench/onnx-batch.ts [--model FILE] [--threads 1] [--batches 1,4,8] [--steps 32] [--rounds 3] [--json FILE]`
 *
 * Aggregate decode tokens/s of `OnnxEngine.forwardBatch` at several batch sizes on an ONNX decoder
 * (default: the committed nano-fp32), paired with the same sequences decoded one `append` after
 * another (what the engine ran before it batched). n sequences with mixed prompt lengths (8 + 3i
 * tokens, so the batch really carries pads) are prefilled untimed, then `steps` steps in which all
 * n decode one token. Rounds interleave every (batch, mode) pair so load drift hits all alike; the
 * median round is reported, with wall clock and the process's CPU time (user + system; at
 * --threads 1 that is the work itself on a shared machine).
 */
import { loadavg } from "node:os";
import type { LogitsSession } from "../src/engines/engine.js";
import { loadOnnxEngine } from "../src/engines/onnx/index.js";
import { argValue, table, writeJson } from "./timing.js";

const model = argValue("--model") ?? "models/nano/nano-fp32/model.onnx";
const threads = Number(argValue("--threads") ?? 1);
const batches = (argValue("--batches") ?? "1,4,8").split(",").map(Number);
const steps = Number(argValue("--steps") ?? 32);
const rounds = Number(argValue("--rounds") ?? 3);
const jsonPath = argValue("--json");

type Mode = "batched" | "one by one";
interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly load: number;
}

const engine = await loadOnnxEngine(model, { threads });
const vocab = engine.vocabSize;

async function measure(batch: number, mode: Mode): Promise<Sample> {
  const sessions = Array.from({ length: batch }, () => engine.newSession());
  await Promise.all(
    sessions.map((s, i) => s.append(Array.from({ length: 8 + 3 * i }, (_, t) => (t * 31 + i * 7 + 5) % vocab))),
  );
  const decode = async (token: number): Promise<void> => {
    if (mode === "batched") await engine.forwardBatch(sessions.map((session) => ({ session, tokens: [token] })));
    else for (const s of sessions) await s.append([token]);
  };
  await decode(400); // untimed: first touch of the decode-sized buffers
  const load = loadavg()[0] ?? 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < steps; s++) await decode(401 + s);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const s of sessions as LogitsSession[]) s.close?.();
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, load };
}

const samples = new Map<string, Sample[]>();
const pairs: Array<[number, Mode]> = batches.flatMap(
  (b): Array<[number, Mode]> =>
    b === 1
      ? [[b, "batched"]]
      : [
          [b, "batched"],
          [b, "one by one"],
        ],
);
const loadBefore = loadavg()[0] ?? 0;
for (let r = 0; r < rounds; r++) {
  // rotate the order each round so no pair always runs first
  for (let k = 0; k < pairs.length; k++) {
    const [batch, mode] = pairs[(k + r) % pairs.length] as [number, Mode];
    const key = `${batch}|${mode}`;
    const list = samples.get(key) ?? [];
    list.push(await measure(batch, mode));
    samples.set(key, list);
    process.stderr.write(`round ${r + 1}: batch ${batch} ${mode}\n`);
  }
}
const loadAfter = loadavg()[0] ?? 0;
await engine.close();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const rows = pairs.map(([batch, mode]) => {
  const list = samples.get(`${batch}|${mode}`) ?? [];
  const wallMs = median(list.map((s) => s.wallMs));
  const cpuMs = median(list.map((s) => s.cpuMs));
  return {
    batch,
    mode,
    stepMs: wallMs / steps,
    tokensPerSecond: (batch * steps * 1000) / wallMs,
    cpuStepMs: cpuMs / steps,
    tokensPerCpuSecond: (batch * steps * 1000) / cpuMs,
  };
});
const single = rows[0]?.tokensPerSecond ?? 1;
const singleCpu = rows[0]?.tokensPerCpuSecond ?? 1;
console.log(
  `${model}, ${threads} threads, ${steps} decode steps, median of ${rounds} interleaved rounds, ` +
    `load avg (1 min) ${loadBefore.toFixed(1)} before / ${loadAfter.toFixed(1)} after`,
);
console.log(
  table(
    ["batch", "mode", "ms/step", "aggregate tok/s", "vs batch 1", "CPU ms/step", "tok per CPU s", "vs batch 1"],
    rows.map((r) => [
      String(r.batch),
      r.mode,
      r.stepMs.toFixed(2),
      r.tokensPerSecond.toFixed(0),
      (r.tokensPerSecond / single).toFixed(2),
      r.cpuStepMs.toFixed(2),
      r.tokensPerCpuSecond.toFixed(0),
      (r.tokensPerCpuSecond / singleCpu).toFixed(2),
    ]),
  ),
);
if (jsonPath) writeJson(jsonPath, { model, threads, steps, rounds, loadBefore, loadAfter, rows });
