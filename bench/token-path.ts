/**
 * `npx tsx bench/token-path.ts [--model FILE] [--streams 1,8] [--tokens 128] [--rounds 9] [--against DIR] [--no-logprobs]`
 *
 * The per-token work around the forward pass, alone: `generateWith` (sampler, stream decoder, stop
 * matcher) over the step scheduler, in this process, with a `forwardBatch` that replays logits the
 * model really produced (recorded once at the start) instead of running it. What it costs per token
 * is what batching cannot amortise; `bench/pool-batch.ts` measures the whole token through the pool.
 * Greedy, as the pool bench runs it; CPU time of this thread per generated token.
 *
 * `--against DIR`: DIR holds another commit's `src/` (see `bench/pool-batch.ts`); its
 * `generateWith` and scheduler run interleaved with this tree's, on the same recorded logits.
 * `--no-logprobs`: the requests say no one reads the tokens' logprobs (`GenerationRequest.logprobs`
 * false), as a request without logprobs outside a cascade could; a tree that predates it ignores it.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { LogitsSession, SequenceStep } from "../src/engines/engine.js";
import { generateWith } from "../src/engines/generate.js";
import { loadEngine } from "../src/engines/load.js";
import { StepScheduler } from "../src/engines/pool/scheduler.js";
import { argValue, table } from "./timing.js";

const model = argValue("--model") ?? join(import.meta.dirname, "../models/nano/nano-b158/model.gguf");
const streams = (argValue("--streams") ?? "1,8").split(",").map(Number);
const tokens = Number(argValue("--tokens") ?? 128);
const rounds = Number(argValue("--rounds") ?? 9);
const against = argValue("--against");
const logprobs = !process.argv.includes("--no-logprobs");

interface Tree {
  generateWith: typeof generateWith;
  StepScheduler: typeof StepScheduler;
}

const engine = await loadEngine(model, { threads: 1 });
const prompt = engine.tokenizer.encode("Story 0: once upon a time", { addSpecial: true });

/** the logits of a real greedy generation, one row per decode step */
const recorded: Float32Array[] = [];
{
  const session = engine.newSession(prompt.length + tokens + 1);
  let logits = await session.append(prompt);
  for (let i = 0; i < tokens; i++) {
    recorded.push(logits);
    let best = 0;
    for (let j = 1; j < engine.vocabSize; j++) if (logits[j]! > logits[best]!) best = j;
    logits = await session.append([best]);
  }
}

/** A session that holds no cache: its position only moves, as the replayed forward pass advances it. */
function replaySession(capacity: number): LogitsSession & { at: number } {
  const s = {
    at: 0,
    get length() {
      return s.at;
    },
    capacity,
    append: () => Promise.reject(new Error("replay sessions run through the scheduler")),
    appendAll: () => Promise.reject(new Error("replay sessions run through the scheduler")),
  };
  return s;
}

function replayForward(steps: readonly SequenceStep[]): Float32Array[] {
  return steps.map((step) => {
    const s = step.session as ReturnType<typeof replaySession>;
    const row = recorded[Math.max(0, s.at + step.tokens.length - prompt.length - 1) % recorded.length]!;
    s.at += step.tokens.length;
    return row;
  });
}

async function round(tree: Tree, n: number): Promise<number> {
  const scheduler = new tree.StepScheduler(replayForward, { stepTokenBudget: 256 });
  const c0 = process.cpuUsage();
  const results = await Promise.all(
    Array.from({ length: n }, () =>
      tree.generateWith(
        scheduler.session(replaySession(prompt.length + tokens + 1)),
        engine.tokenizer,
        engine.vocabSize,
        { prompt, maxTokens: tokens, sampling: { temperature: 0 }, ignoreEos: true, logprobs },
        () => {},
      ),
    ),
  );
  const cpu = process.cpuUsage(c0);
  const generated = results.reduce((a, r) => a + r.completionTokens, 0);
  return (cpu.user + cpu.system) / generated;
}

const trees: Record<string, Tree> = { this: { generateWith, StepScheduler } };
if (against !== undefined) {
  const gen = (await import(pathToFileURL(join(against, "src/engines/generate.ts")).href)) as Tree;
  const sched = (await import(pathToFileURL(join(against, "src/engines/pool/scheduler.ts")).href)) as Tree;
  trees.against = { generateWith: gen.generateWith, StepScheduler: sched.StepScheduler };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const samples = new Map<string, number[]>();
const loadBefore = loadavg()[0]!;
for (const tree of Object.values(trees)) for (const n of streams) await round(tree, n); // warm up
for (let r = 0; r < rounds; r++) {
  for (const n of streams) {
    for (const [name, tree] of Object.entries(trees)) {
      const key = `${name} ${n}`;
      samples.set(key, [...(samples.get(key) ?? []), await round(tree, n)]);
    }
  }
}
const loadAfter = loadavg()[0]!;
console.log(
  `model ${model}, vocabulary ${engine.vocabSize}, ${tokens} tokens a stream, ${rounds} rounds (medians)${logprobs ? "" : ", no logprobs"}`,
);
if (against !== undefined) console.log(`against: generateWith and the scheduler of ${against}`);
console.log(`load average (1 min) ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`);
console.log(
  table(
    ["code", "streams", "CPU µs/token"],
    [...samples].map(([key, xs]) => {
      const [name, n] = key.split(" ");
      return [name!, n!, median(xs).toFixed(1)];
    }),
  ),
);
await engine.close();
