/**
 * Concurrent streams through tritgate's real pool for bench:concurrency: a variant worker started
 * with `startVariantWorker` as `tritgate serve` starts it (its own thread, the engine's threads,
 * `slots` concurrent generations), fed raw-text prompts, greedy, ignore-EOS, a fixed token count.
 * Every token's arrival on the main thread is timed (the handle's onToken, as the gateway's
 * renderers see it).
 */
import { startVariantInstances, type VariantInstancesOptions, type VariantWorker } from "../src/engines/pool/index.js";
import { promptFor } from "./concurrency-prompts.js";
import type { StreamTrace } from "./concurrency-stats.js";

/**
 * Whether the streams ask for their tokens' logprobs. By default they do not, as the gateway sends a
 * request that asks for none (and is not judged by a cascade): greedy steps then skip the exps over the
 * vocabulary. `--logprobs` makes every stream pay them, as a request with `logprobs: true` does.
 */
const LOGPROBS = process.argv.includes("--logprobs");

/**
 * Starts the workers, waits for their models, runs one short untimed generation on each (it starts
 * the kernel pool, sizes the scratch buffers and warms the JIT), runs `fn`, closes them.
 */
export async function withWorkers<T>(
  options: readonly VariantInstancesOptions[],
  fn: (workers: VariantWorker[]) => Promise<T>,
): Promise<T> {
  const workers = options.map(startVariantInstances);
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) {
      await w.generate({
        input: { kind: "text", text: promptFor(0) },
        maxTokens: 4,
        ignoreEos: true,
        sampling: { temperature: 0 },
      });
    }
    return await fn(workers);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

/** One stream: submit, time every token; the worker must produce exactly `tokens`. */
export async function stream(worker: VariantWorker, index: number, tokens: number): Promise<StreamTrace> {
  const tokenTimes: number[] = [];
  const submittedAt = performance.now();
  const result = await worker.generate(
    {
      input: { kind: "text", text: promptFor(index) },
      maxTokens: tokens,
      // the fixed count or a ContextOverflowError up front, never an answer cut to the context
      strictMaxTokens: true,
      ignoreEos: true,
      sampling: { temperature: 0 },
      logprobs: LOGPROBS,
    },
    () => tokenTimes.push(performance.now()),
  );
  if (result.completionTokens !== tokens) {
    throw new Error(`${worker.name}: stream ${index} produced ${result.completionTokens} tokens, not ${tokens}`);
  }
  return { submittedAt, tokenTimes };
}

/** `concurrency` streams submitted at once. */
export function concurrentStreams(worker: VariantWorker, concurrency: number, tokens: number): Promise<StreamTrace[]> {
  return Promise.all(Array.from({ length: concurrency }, (_, i) => stream(worker, i, tokens)));
}

/**
 * Closed-loop load: `users` clients, each submitting its next request as soon as the previous one
 * ends, until `until` (performance.now() ms). Every request that was started is awaited.
 */
export async function closedLoop(
  worker: VariantWorker,
  users: number,
  tokens: number,
  until: number,
): Promise<StreamTrace[]> {
  const traces: StreamTrace[] = [];
  const user = async (u: number) => {
    for (let round = 0; performance.now() < until; round++)
      traces.push(await stream(worker, u + round * users, tokens));
  };
  await Promise.all(Array.from({ length: users }, (_, u) => user(u)));
  return traces;
}
