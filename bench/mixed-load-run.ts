/**
 * One arm of `npm run bench:mixed`, in a process of its own (the kernels' pool is process-wide, so
 * each thread count needs its own process): the nano BitNet variant and its ONNX twin on worker
 * threads, both generating greedy 64-token answers back to back on `--streams` concurrent streams
 * each, for `--seconds`. Prints one JSON line: tokens per engine in the window, the process's CPU
 * seconds over it, and the turn lock's figures.
 *
 * --arm budget          the gateway's default: one budget of --threads cores, BitNet's kernel pool at
 *                       --threads (elastic: each step on the cores ONNX leaves), ONNX at its default
 *                       share (engineThreads: half the budget beside BitNet), holding it while busy
 * --arm turns           both engines at --threads under the same budget (an ONNX override of all the
 *                       cores: it cannot share, so the engines take turns)
 * --arm oversubscribed  both engines at --threads, no turns (each engine's threads compete for the cores)
 * --arm split           each engine at --threads / 2 (at least 1), no turns: the static split
 * --arm split-turns     the split under the same turns (each turn takes its engine's threads of the
 *                       --threads cores, so both engines compute at once): a `threads: 1` gateway
 */
import { join } from "node:path";
import { engineThreads } from "../src/engines/pool/cpu-budget.js";
import { createCpuTurns } from "../src/engines/pool/cpu-turns.js";
import { startVariantWorker, type VariantWorker } from "../src/engines/pool/index.js";
import { argValue } from "./timing.js";

const arm = argValue("--arm") ?? "turns";
const threads = Number(argValue("--threads") ?? 2);
const seconds = Number(argValue("--seconds") ?? 10);
const streams = Number(argValue("--streams") ?? 1);
if (!["budget", "turns", "oversubscribed", "split", "split-turns"].includes(arm))
  throw new Error(`unknown --arm ${arm}`);

const root = join(import.meta.dirname, "..", "models", "nano");
const half = Math.max(1, Math.floor(threads / 2));
const bitnetThreads = arm.startsWith("split") ? half : threads;
const onnxThreads = arm.startsWith("split") ? half : arm === "budget" ? engineThreads(threads, "onnx", true) : threads;
// the oversubscribed and split arms count forward calls (to report overlap) but never wait
const turns = createCpuTurns({ cores: threads, exclusive: ["budget", "turns", "split-turns"].includes(arm) });
const workers: Record<string, VariantWorker> = {
  bitnet: startVariantWorker({
    name: "nano-b158",
    path: join(root, "nano-b158", "model.gguf"),
    threads: bitnetThreads,
    slots: streams,
    cpuTurns: turns,
  }),
  onnx: startVariantWorker({
    name: "nano-fp32",
    path: join(root, "nano-fp32", "model.onnx"),
    threads: onnxThreads,
    slots: streams,
    cpuTurns: turns,
  }),
};
await Promise.all(Object.values(workers).map((w) => w.ready));

const request = {
  input: { kind: "text" as const, text: "Once upon a time, in a small village by the sea," },
  maxTokens: 64,
  sampling: { temperature: 0 },
  ignoreEos: true,
};
// warm both engines (first-call allocations, the pool's threads started)
await Promise.all(Object.values(workers).map((w) => w.generate({ ...request, maxTokens: 8 })));

const counted: Record<string, number> = { bitnet: 0, onnx: 0 };
let measuring = false;
let stopping = false;
const stop = new AbortController();
async function stream(kind: string): Promise<void> {
  const worker = workers[kind]!;
  while (!stopping) {
    await worker
      .generate(
        request,
        () => {
          if (measuring) counted[kind]!++;
        },
        stop.signal,
      )
      .catch((e: Error) => {
        if (!stopping) throw e;
      });
  }
}
const loops = Object.keys(workers).flatMap((kind) => Array.from({ length: streams }, () => stream(kind)));
// let every stream get going before the window opens
await new Promise((resolve) => setTimeout(resolve, 500));
const turnsBefore = Object.fromEntries(Object.entries(workers).map(([k, w]) => [k, w.cpuTurnStats]));
const cpuBefore = process.cpuUsage();
const started = performance.now();
measuring = true;
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
stopping = true;
stop.abort();
await Promise.all(loops);
const turnFigures = Object.fromEntries(
  Object.entries(workers).map(([k, w]) => {
    const a = turnsBefore[k]!;
    const b = w.cpuTurnStats!;
    const n = b.turns - a!.turns;
    return [
      k,
      {
        turns: n,
        waitMsPerTurn: (b.waitMs - a!.waitMs) / n,
        heldMsPerTurn: (b.heldMs - a!.heldMs) / n,
        cores: b.cores,
      },
    ];
  }),
);
await Promise.all(Object.values(workers).map((w) => w.close()));

const total = counted.bitnet! + counted.onnx!;
process.stdout.write(
  `${JSON.stringify({
    arm,
    threadsPerEngine: `${bitnetThreads}+${onnxThreads}`,
    streamsPerEngine: streams,
    seconds: elapsed,
    tokens: counted,
    tokensPerSecond: total / elapsed,
    bitnetTokensPerSecond: counted.bitnet! / elapsed,
    onnxTokensPerSecond: counted.onnx! / elapsed,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    tokensPerCpuSecond: total / ((cpu.user + cpu.system) / 1e6),
    mostForwardsAtOnce: turns.mostInside,
    mostCoresHeld: turns.mostCoresHeld,
    turns: turnFigures,
  })}\n`,
);
process.exit(0);
