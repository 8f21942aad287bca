/**
 * `npx tsx bench/small-m.ts [--json FILE] [--threads N] [--isa avx512,avx2]`
 *
 * Per-row cost of a matmul at M = 1, 2, 4, 8, 16 (the batched decode sizes) against M = 1, for
 * the ternary formats on the 2B-4T FFN gate shape and for F16 / Q8_0 heads (float activations).
 * A ratio of 1 means M rows cost M single rows; 1/M means the extra rows are free.
 * `--cpu` times by the process's CPU time instead of the wall clock, best of five trials (use with
 * --threads 1): on a shared, oversubscribed machine the wall clock mostly measures the scheduler.
 */
import { type Isa, matmul, type PackedWeight, quantize, setThreads, type WeightType } from "../kernels/index.js";
import { argValue, table, timeCalls, writeJson } from "./timing.js";

const threads = Number(argValue("--threads") ?? 2);
const isas = (argValue("--isa") ?? "avx512,avx2").split(",") as Isa[];
const jsonPath = argValue("--json");
const batches = [1, 2, 4, 8, 16];
const cpuClock = process.argv.includes("--cpu");

/** CPU time per call: the best of five trials of at least `trialMs` of CPU each (the least disturbed). */
function cpuTime(fn: () => unknown, trialMs = 80): { median: number } {
  for (let i = 0; i < 2; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let trial = 0; trial < 5; trial++) {
    const start = process.cpuUsage();
    let runs = 0;
    let used = 0;
    while (runs < 2 || used < trialMs) {
      fn();
      runs++;
      const d = process.cpuUsage(start);
      used = (d.user + d.system) / 1000;
    }
    best = Math.min(best, used / runs);
  }
  return { median: best };
}

setThreads(threads);

function randomFloats(count: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(count);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface Case {
  readonly name: string;
  readonly type: WeightType;
  readonly n: number;
  readonly k: number;
  readonly activations: "int8" | "float";
}
const cases: Case[] = [
  { name: "ffn gate 6912x2560", type: "TQ2_0", n: 6912, k: 2560, activations: "int8" },
  { name: "ffn gate 6912x2560", type: "TQ1_0", n: 6912, k: 2560, activations: "int8" },
  { name: "ffn gate 6912x2560", type: "I2_S", n: 6912, k: 2560, activations: "int8" },
  { name: "head 32000x2560", type: "F16", n: 32000, k: 2560, activations: "float" },
  { name: "head 32000x2560", type: "Q8_0", n: 32000, k: 2560, activations: "float" },
];

const rows: Record<string, string | number>[] = [];
for (const c of cases) {
  const floats = randomFloats(c.n * c.k, 7);
  const absmean = c.activations === "int8";
  const weight: PackedWeight = quantize(c.type, floats, c.n, c.k, { absmean });
  const x = randomFloats(16 * c.k, 11);
  for (const isa of isas) {
    let single = 0;
    for (const m of batches) {
      const out = new Float32Array(m * c.n);
      const call = () => matmul(weight, x.subarray(0, m * c.k), m, { isa, activations: c.activations, out });
      const t = cpuClock ? cpuTime(call) : await timeCalls(call, { budgetMs: 500 });
      if (m === 1) single = t.median;
      rows.push({
        shape: c.name,
        type: c.type,
        isa,
        m,
        ms: t.median,
        perRowMs: t.median / m,
        perRowVsM1: t.median / m / single,
      });
    }
  }
}
console.log(
  table(
    ["shape", "type", "isa", "M", "ms", "ms/row", "per row vs M=1"],
    rows.map((r) => [
      String(r.shape),
      String(r.type),
      String(r.isa),
      String(r.m),
      (r.ms as number).toFixed(3),
      (r.perRowMs as number).toFixed(3),
      (r.perRowVsM1 as number).toFixed(2),
    ]),
  ),
);
if (jsonPath) writeJson(jsonPath, { threads, clock: cpuClock ? "cpu" : "wall", rows });
