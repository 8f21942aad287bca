/**
 * The worker thread of one variant: loads its engine, then runs generations as the handle sends
 * them, streaming every token back. Each generation first reserves its KV positions (`kv-budget.ts`),
 * waiting while the budget is spent. An engine with `forwardBatch` runs all generations' forward
 * passes through one step scheduler (`scheduler.ts`: continuous batching); any other engine runs
 * each on its own, yielding to the event loop before every pass. Either way a cancel message is
 * seen between steps and several generations interleave.
 */
import { totalmem } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { buildVocabIndex, type Constraint, compileConstraint, type VocabIndex } from "../constrain/index.js";
import type { Engine, GeneratedToken, LogitsSession } from "../engine.js";
import { ContextOverflowError, InvalidGenerationError } from "../errors.js";
import { generateWith } from "../generate.js";
import { loadEngine } from "../load.js";
import { type SamplingParams, type TokenLogprob, validateSamplingParams } from "../sampler/index.js";
import { type CpuTurnSeat, CpuTurnTaker } from "./cpu-turns.js";
import { serializeError } from "./errors.js";
import { DEFAULT_MAX_KV_WAIT_MS, defaultKvTokenBudget, KvBudget, type KvReservation } from "./kv-budget.js";
import { ProgressOutbox } from "./outbox.js";
import type {
  FromWorker,
  PoolGenerateRequest,
  PoolToken,
  StepRun,
  TokenMessage,
  ToWorker,
  WorkerInit,
} from "./protocol.js";
import { DEFAULT_STEP_TOKEN_BUDGET, StepScheduler } from "./scheduler.js";
import { withCpuTurns } from "./turn-engine.js";

const port = parentPort;
if (!port) throw new Error("src/engines/pool/worker.js runs as a worker thread only");
const init = workerData as WorkerInit;
const running = new Map<number, AbortController>();
const utf8 = new TextDecoder("utf-8", { fatal: false });
/** built on the first constrained request: one engine (so one tokenizer) per worker */
let vocabIndex: VocabIndex | undefined;

/**
 * How long a token may wait for the next progress message when the step scheduler runs (outbox.ts): at
 * nano's step times one message then carries a few steps' tokens instead of each step's.
 */
const PROGRESS_MAX_DELAY_MS = 1;

const postProgress = (progress: { steps: StepRun[]; tokens: TokenMessage[] }) =>
  port!.postMessage({ type: "progress", ...progress } satisfies FromWorker);
/** step reports and tokens on their way to the handle; every other message sends them first */
let outbox = new ProgressOutbox({ post: postProgress, maxDelayMs: 0 });

function send(message: FromWorker): void {
  outbox.flush();
  port!.postMessage(message);
}

/** A session that lets the event loop turn before each forward pass. */
function yielding(session: LogitsSession): LogitsSession {
  return {
    get length() {
      return session.length;
    },
    get capacity() {
      return session.capacity;
    },
    async append(tokens) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return session.append(tokens);
    },
    async appendAll(tokens) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return session.appendAll(tokens);
    },
  };
}

function describe(engine: Engine, id: number): { token: string; bytes: number[] } {
  const bytes = engine.tokenizer.tokenBytes(id);
  return { token: utf8.decode(bytes), bytes: Array.from(bytes) };
}

/** Without tokenInfo a generated token already is a PoolToken (its fields and nothing else): it is sent as is. */
function toPoolToken(engine: Engine, t: GeneratedToken, info: boolean): PoolToken {
  if (!info) return t;
  const top = t.top.map((a: TokenLogprob) => ({ id: a.id, logprob: a.logprob, ...describe(engine, a.id) }));
  return { id: t.id, text: t.text, logprob: t.logprob, top, ...describe(engine, t.id) };
}

/**
 * What only the engine can check about a request, raised as request faults before any work: the
 * output the client asked for must fit the context, and sampling values must suit this vocabulary.
 */
function checkRequest(engine: Engine, request: Omit<PoolGenerateRequest, "priority">, promptTokens: number): void {
  // a model without BOS encodes "" to nothing, and there is nothing to continue from
  if (promptTokens === 0) {
    throw new InvalidGenerationError(
      "the prompt is empty: this model needs at least one token to continue from",
      request.input.kind === "text" ? "prompt" : "messages",
    );
  }
  if (request.strictMaxTokens === true && promptTokens < engine.contextLength) {
    const needed = promptTokens + request.maxTokens;
    if (needed > engine.contextLength) throw new ContextOverflowError(needed, engine.contextLength, "max_tokens");
  }
  const sampling: SamplingParams = request.sampling ?? {};
  const problem = validateSamplingParams(sampling);
  if (problem !== undefined) throw new InvalidGenerationError(problem, null);
  for (const id of Object.keys(sampling.logitBias ?? {})) {
    if (Number(id) >= engine.vocabSize) {
      throw new InvalidGenerationError(
        `logit_bias token id ${id} is outside this model's vocabulary (0..${engine.vocabSize - 1})`,
        "logit_bias",
      );
    }
  }
}

/** What runs a loaded engine's generations: its KV budget and, when it batches, its step scheduler. */
interface Runner {
  readonly engine: Engine;
  readonly kv: KvBudget;
  readonly scheduler: StepScheduler | undefined;
  /** nothing runs any more: the engine's lease of CPU cores goes back to the budget */
  readonly idle: (() => void) | undefined;
}

/**
 * The positions a generation's session is sized to and reserves: prompt + max tokens (+1 spare),
 * capped at the context. When that exceeds the KV budget (set below the context), a client's
 * max_tokens, or a prompt alone, is a ContextOverflowError against the budget (it could never run);
 * a ceiling max_tokens is cut to what the budget leaves.
 */
function sizeRequest(
  runner: Runner,
  request: Omit<PoolGenerateRequest, "priority">,
  promptTokens: number,
): { positions: number; maxTokens: number } {
  const { engine, kv } = runner;
  const maxTokens = Math.max(0, request.maxTokens);
  if (promptTokens >= engine.contextLength) throw new ContextOverflowError(promptTokens + 1, engine.contextLength);
  const wanted = Math.min(engine.contextLength, promptTokens + maxTokens + 1);
  if (wanted <= kv.limit) return { positions: wanted, maxTokens };
  if (promptTokens >= kv.limit) throw new ContextOverflowError(promptTokens + 1, kv.limit);
  if (request.strictMaxTokens === true && promptTokens + maxTokens > kv.limit) {
    throw new ContextOverflowError(promptTokens + maxTokens, kv.limit, "max_tokens");
  }
  return { positions: kv.limit, maxTokens: Math.min(maxTokens, kv.limit - promptTokens) };
}

async function run(runner: Runner, message: Extract<ToWorker, { type: "generate" }>): Promise<void> {
  const { engine, kv, scheduler } = runner;
  const { id, request } = message;
  const controller = new AbortController();
  running.set(id, controller);
  let session: LogitsSession | undefined;
  let reservation: KvReservation | undefined;
  let outcome: FromWorker;
  try {
    const { input } = request;
    const prompt =
      input.kind === "text"
        ? engine.tokenizer.encode(input.text, { addSpecial: true })
        : engine.encodeChat(input.messages, input.tools);
    checkRequest(engine, request, prompt.length);
    let constraint: Constraint | undefined;
    if (request.constraint) {
      vocabIndex ??= buildVocabIndex(engine.tokenizer, engine.vocabSize);
      constraint = { grammar: compileConstraint(request.constraint), vocab: vocabIndex };
    }
    const info = request.tokenInfo === true;
    // sized to the request: a full-context cache would be ~630 MB per request on the 2B-4T shape
    const { positions, maxTokens } = sizeRequest(runner, request, prompt.length);
    if (!kv.fitsNow(positions)) send({ type: "kv-wait", id });
    reservation = await kv.acquire(positions, controller.signal);
    send({ type: "admitted", id, kvReserved: positions });
    const live = engine.newSession(positions);
    session = live;
    let sent = 0;
    const result = await generateWith(
      scheduler ? scheduler.session(live, controller.signal) : yielding(live),
      engine.tokenizer,
      engine.vocabSize,
      {
        prompt,
        maxTokens,
        sampling: request.sampling,
        stop: request.stop,
        ignoreEos: request.ignoreEos,
        signal: controller.signal,
        constraint,
        logprobs: request.logprobs,
      },
      (token) => outbox.token({ id, token: toPoolToken(engine, token, info), kvTokens: live.length }, sent++ === 0),
    );
    const { text, finishReason, promptTokens, completionTokens, prefillMs, decodeMs } = result;
    outcome = { type: "done", id, result: { text, finishReason, promptTokens, completionTokens, prefillMs, decodeMs } };
  } catch (e) {
    outcome = { type: "error", id, error: serializeError(e) };
  } finally {
    running.delete(id);
    session?.close?.();
    reservation?.release();
    // before the answer goes out, so a caller that sees it finds the cores given back
    if (running.size === 0) runner.idle?.();
  }
  send(outcome);
}

/**
 * The engine with each forward call on cores of the CPU budget. BitNet (the kernels' pool) is an
 * elastic seat: each call runs on the cores the other engines leave (`setActiveThreads`), and the
 * pool's threads park when it ends, so they do not spin on cores another engine takes next. ONNX
 * holds its session's threads as a lease while it has generations running (`idle` gives it back).
 */
async function onCpuBudget(engine: Engine, seat: CpuTurnSeat): Promise<{ engine: Engine; idle: () => void }> {
  if (engine.kind === "bitnet") {
    const { parkThreads, setActiveThreads } = await import("../../../kernels/index.js");
    const taker = new CpuTurnTaker(seat, { beforeRelease: parkThreads, onGrant: setActiveThreads });
    return { engine: withCpuTurns(engine, taker), idle: () => taker.idle() };
  }
  const taker = new CpuTurnTaker(seat, { lease: true });
  return { engine: withCpuTurns(engine, taker), idle: () => taker.idle() };
}

async function main(): Promise<void> {
  const started = performance.now();
  let engine: Engine;
  let idle: (() => void) | undefined;
  try {
    if (init.threads !== undefined && init.path.endsWith(".gguf")) {
      const { setThreads } = await import("../../../kernels/index.js");
      setThreads(init.threads);
    }
    const loaded = await loadEngine(init.path, {
      contextLength: init.contextLength,
      threads: init.threads,
      activations: init.activations,
      kvCacheType: init.kvCacheType,
      // a thread spinning after its engine's turn would burn the next engine's turn
      spinning: init.cpuTurns?.exclusive !== true,
    });
    if (init.cpuTurns) ({ engine, idle } = await onCpuBudget(loaded, init.cpuTurns));
    else engine = loaded;
  } catch (e) {
    send({ type: "load-error", error: serializeError(e) });
    return;
  }
  const kvTokenBudget = init.kvTokenBudget ?? defaultKvTokenBudget(engine, init.slots ?? 1, totalmem());
  const batch = init.batching === false ? undefined : engine.forwardBatch?.bind(engine);
  // batched steps tell the outbox when they start and end, so it can hold tokens across short ones
  if (batch) outbox = new ProgressOutbox({ post: postProgress, maxDelayMs: PROGRESS_MAX_DELAY_MS });
  const runner: Runner = {
    engine,
    kv: new KvBudget(kvTokenBudget, init.maxKvWaitMs ?? DEFAULT_MAX_KV_WAIT_MS),
    scheduler:
      batch &&
      new StepScheduler(batch, {
        stepTokenBudget: init.stepTokenBudget ?? DEFAULT_STEP_TOKEN_BUDGET,
        beforeStep: () => outbox.beforeStep(),
        onStep: ({ batchSize, tokens }) => outbox.step({ batchSize, tokens }),
      }),
    idle,
  };
  port!.on("message", (message: ToWorker) => {
    switch (message.type) {
      case "generate":
        void run(runner, message);
        break;
      case "cancel":
        running.get(message.id)?.abort();
        break;
      case "crash":
        process.exit(70);
    }
  });
  send({
    type: "ready",
    info: {
      kind: engine.kind,
      contextLength: engine.contextLength,
      vocabSize: engine.vocabSize,
      loadMs: performance.now() - started,
      kvTokenBudget,
      ...(engine.kvBytesPerToken !== undefined && { kvBytesPerToken: engine.kvBytesPerToken }),
      batched: runner.scheduler !== undefined,
    },
  });
}

await main();
