/**
 * `tsx bench/kernels-ab.ts --a OLD.node --b NEW.node [--threads 1] [--m 1] [--isa avx512]
 *   [--shapes 6912x2560,2560x6912] [--types TQ1_0,TQ2_0] [--reps 15] [--activations-a float --activations-b q8_0]`
 *
 * Two builds of the kernels addon in one process, their calls interleaved rep by rep, so both
 * see the same machine: the way to tell a kernel change from the noise of a shared host. Reports
 * CPU time per call (process.cpuUsage) and wall time, minimum and median over the reps. At one
 * thread CPU time is the figure to trust on a loaded machine (the wall clock also counts the time
 * other processes held the core); with more threads it also counts the pool's workers spinning
 * between jobs, so compare wall times there. Keep the old build aside first:
 * `cp kernels/build/Release/tritgate_kernels.node /tmp/old.node`. With `--activations-a/-b` (e.g.
 * `float` against `q8_0` on a Q8_0 head) one build can be compared with itself in two modes.
 */
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { isTernary, WEIGHT_TYPE_IDS, type WeightType } from "../kernels/index.js";
import type { NativeKernels } from "../kernels/native.js";
import { argValue, table } from "./timing.js";

function required(name: string): string {
  const value = argValue(name);
  if (value === undefined) throw new Error(`${name} FILE.node is required`);
  return resolve(value);
}

const require = createRequire(import.meta.url);
const builds = { a: required("--a"), b: required("--b") };
const addons = { a: require(builds.a) as NativeKernels, b: require(builds.b) as NativeKernels };
const threads = Number(argValue("--threads") ?? 1);
const m = Number(argValue("--m") ?? 1);
const isa = argValue("--isa") ?? "avx512";
const reps = Number(argValue("--reps") ?? 15);
const activations = { a: argValue("--activations-a"), b: argValue("--activations-b") };
const shapes = (argValue("--shapes") ?? "6912x2560")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const types = (argValue("--types") ?? "TQ1_0,TQ2_0").split(",") as WeightType[];

function randomValues(count: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function minMedian(samples: number[]): [number, number] {
  const sorted = [...samples].sort((p, q) => p - q);
  return [sorted[0] ?? Number.NaN, sorted[sorted.length >> 1] ?? Number.NaN];
}

const fmt = (ms: number) => (ms < 0.1 ? ms.toFixed(4) : ms.toFixed(3));
addons.a.setThreads(threads);
addons.b.setThreads(threads);
console.log(
  `A = ${builds.a} ${activations.a ?? ""}\nB = ${builds.b} ${activations.b ?? ""}\n${isa}, M = ${m}, ${threads} thread(s), ${reps} reps interleaved\n`,
);
const rows: string[][] = [];
for (const [n, k] of shapes) {
  const values = randomValues(n * k, n + k);
  const x = randomValues(m * k, 7);
  const out = new Float32Array(m * n);
  const calls = Math.max(3, Math.round(40 / m));
  for (const type of types) {
    const id = WEIGHT_TYPE_IDS[type];
    // absmean ternarizes first: only meaningful (and accepted) for the ternary types
    const data = addons.a.quantize(id, values, n, k, isTernary(type));
    const cpu = { a: [] as number[], b: [] as number[] };
    const wall = { a: [] as number[], b: [] as number[] };
    for (let rep = 0; rep < reps; rep++) {
      for (const key of ["a", "b"] as const) {
        const lib = addons[key];
        for (let i = 0; i < 2; i++) lib.matmul(isa, id, data, n, k, x, m, activations[key], out);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) lib.matmul(isa, id, data, n, k, x, m, activations[key], out);
        const c = process.cpuUsage(c0);
        wall[key].push((performance.now() - t0) / calls);
        cpu[key].push((c.user + c.system) / 1000 / calls);
      }
    }
    const [aMin, aMed] = minMedian(cpu.a);
    const [bMin, bMed] = minMedian(cpu.b);
    const [awMin, awMed] = minMedian(wall.a);
    const [bwMin, bwMed] = minMedian(wall.b);
    rows.push([
      `${n}x${k}`,
      type,
      `${fmt(aMin)} / ${fmt(aMed)}`,
      `${fmt(bMin)} / ${fmt(bMed)}`,
      `${(aMin / bMin).toFixed(2)}x`,
      `${fmt(awMin)} / ${fmt(awMed)}`,
      `${fmt(bwMin)} / ${fmt(bwMed)}`,
    ]);
  }
}
console.log(
  table(
    ["N x K", "type", "A cpu ms min / median", "B cpu ms min / median", "A / B (cpu min)", "A wall ms", "B wall ms"],
    rows,
  ),
);
