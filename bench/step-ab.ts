/**
 * `npx tsx bench/step-ab.ts --against DIR [--model FILE] [--threads 1] [--prompt 12] [--steps 64] [--rounds 15] [--json FILE]`
 *
 * An in-process before/after of one batched decode step (`BitNetEngine.forwardBatch`, no pool, no
 * sampling): this tree's engine and kernels beside DIR's (another commit's checkout with its own
 * `kernels/build`, e.g. a second worktree of main), in one process, rounds alternated (this, DIR, this,
 * DIR, ...). A round prefills `--prompt` tokens into each of 1 and then 8 sequences and times `--steps`
 * decode steps. Reports the min and median µs per step over the rounds after two warm-up rounds, and
 * the 8-vs-1 aggregate ratio (8 x step(1) / step(8)), which is what bench:concurrency's nano target
 * asks of the whole pool. The min is the least disturbed round on a shared machine.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { argValue, table, writeJson } from "./timing.js";

interface Session {
  close(): void;
}
interface Engine {
  newSession(positions: number): Session;
  forwardBatch(steps: ReadonlyArray<{ session: Session; tokens: readonly number[] }>): Float32Array[];
}
interface Tree {
  readonly name: string;
  readonly engine: Engine;
}

const against = argValue("--against");
if (against === undefined) throw new Error("--against DIR is required (another checkout with its kernels built)");
const model = argValue("--model") ?? join(import.meta.dirname, "../models/nano/nano-b158/model.gguf");
const threads = Number(argValue("--threads") ?? 1);
const promptLength = Number(argValue("--prompt") ?? 12);
const steps = Number(argValue("--steps") ?? 64);
const rounds = Number(argValue("--rounds") ?? 15);
const jsonPath = argValue("--json");
const WARM_UP_ROUNDS = 2;
const BATCHES = [1, 8] as const;

async function load(name: string, root: string): Promise<Tree> {
  const kernels = (await import(pathToFileURL(join(root, "kernels/index.ts")).href)) as {
    setThreads(n: number): number;
  };
  kernels.setThreads(threads);
  const bitnet = (await import(pathToFileURL(join(root, "src/engines/bitnet/index.ts")).href)) as {
    loadBitNetEngine(path: string): Promise<Engine>;
  };
  return { name, engine: await bitnet.loadBitNetEngine(model) };
}

/** µs per decode step of `batch` sequences after a `promptLength`-token prefill. */
function round(engine: Engine, batch: number): number {
  const sessions = Array.from({ length: batch }, () => engine.newSession(promptLength + steps + 2));
  const prompt = (i: number) => Array.from({ length: promptLength }, (_, t) => ((t * 7 + i * 13) % 4000) + 10);
  engine.forwardBatch(sessions.map((session, i) => ({ session, tokens: prompt(i) })));
  const t0 = performance.now();
  for (let s = 0; s < steps; s++)
    engine.forwardBatch(sessions.map((session, i) => ({ session, tokens: [((s * 31 + i) % 4000) + 5] })));
  const us = ((performance.now() - t0) * 1000) / steps;
  for (const session of sessions) session.close();
  return us;
}

const trees = [await load("this tree", join(import.meta.dirname, "..")), await load("against", against)];
const samples = new Map<string, number[]>();
const loadBefore = loadavg()[0] ?? 0;
for (let r = 0; r < rounds + WARM_UP_ROUNDS; r++)
  for (const tree of trees)
    for (const batch of BATCHES) {
      const us = round(tree.engine, batch);
      if (r < WARM_UP_ROUNDS) continue;
      const key = `${tree.name}|${batch}`;
      samples.set(key, [...(samples.get(key) ?? []), us]);
    }
const loadAfter = loadavg()[0] ?? 0;

const sorted = (key: string) => [...(samples.get(key) ?? [])].sort((a, b) => a - b);
const rows = trees.map((tree) => {
  const one = sorted(`${tree.name}|1`);
  const eight = sorted(`${tree.name}|8`);
  const min1 = one[0] ?? Number.NaN;
  const min8 = eight[0] ?? Number.NaN;
  const med1 = one[one.length >> 1] ?? Number.NaN;
  const med8 = eight[eight.length >> 1] ?? Number.NaN;
  return { tree: tree.name, min1, med1, min8, med8, ratioMin: (8 * min1) / min8, ratioMedian: (8 * med1) / med8 };
});
console.log(
  `${model}, threads ${threads}, ${promptLength}-token prompts + ${steps} decode steps, ${rounds} rounds; against ${against}`,
);
console.log(`load average (1 min) ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`);
console.log(
  table(
    ["tree", "batch 1 µs/step (min / median)", "batch 8 µs/step (min / median)", "8:1 aggregate (min / median)"],
    rows.map((r) => [
      r.tree,
      `${r.min1.toFixed(0)} / ${r.med1.toFixed(0)}`,
      `${r.min8.toFixed(0)} / ${r.med8.toFixed(0)}`,
      `${r.ratioMin.toFixed(2)} / ${r.ratioMedian.toFixed(2)}`,
    ]),
  ),
);
if (jsonPath)
  writeJson(jsonPath, { model, threads, promptLength, steps, rounds, against, loadBefore, loadAfter, rows });
