/**
 * `npm run bench:concurrency [-- --json FILE] [--models nano-b158,2B-4T,mixed] [--concurrency 1,4,8,16]
 *                             [--tokens 64] [--rounds 3] [--threads N] [--skip-llama]
 *                             [--llama-sequences 1,8] [--mixed-concurrency 4,8] [--mixed-seconds 15]
 *                             [--int8-peak-gmacs G] [--no-cpu-turns] [--no-batching] [--nano-instances K]
 *                             [--logprobs] [--kv-cache f32|f16]`
 *
 * Throughput under concurrency through tritgate's real pool: for each model and each concurrency n, a
 * variant worker started as `tritgate serve` starts it (`startVariantWorker`, `slots` = n, the
 * engine's threads = --threads, default the physical cores, under one CPU turn lock over the physical
 * cores as the config's `cpuTurns` has it, unless --no-cpu-turns), n streams submitted at once, fixed
 * prompts, greedy, ignore-EOS, no logprobs asked for (as the gateway sends a plain request; --logprobs
 * asks for them on every stream), --tokens tokens each, --rounds times. Per n: aggregate decode
 * tokens/s in the steady state (all n streams past their prefill, none finished; the fastest round)
 * and TTFT p50/p95 over every stream (bench/concurrency-stats.ts says exactly how).
 *
 * The pool and not the gateway over HTTP: the targets are about the engines' scheduling, and at these
 * rates the gateway's per-token SSE work would share the same two cores with what is measured;
 * bench:gateway measures the gateway's own cost.
 *
 * Models: `nano-b158` (models/nano), `2B-4T` (the synthetic 2B-4T-shaped TQ2_0 file bench:e2e
 * writes into bench/.models, ~3 min the first time), `mixed` (nano-b158 and its fp32 ONNX twin
 * loaded and generating at once, closed-loop users for --mixed-seconds: each engine alone; both under
 * one CPU budget as the gateway runs them by default (`budget`: BitNet's pool elastic over all the
 * threads, ONNX at half); both with all threads each under the budget (`turns`: ONNX cannot share,
 * so they take turns); both with all threads each and no budget (`oversubscribed`); and each static
 * split of the threads; each both-at-once figure
 * is read against the best split, each engine's aggregate counted as a share of its solo aggregate).
 *
 * --nano-instances K serves nano-b158 as K instances (default: the embedded default config's `instances`
 * for it, 2; `instances` in the config: K worker threads,
 * each with its own copy of the model, ceil(n / K) slots and every kernel thread, shared out by the CPU budget); its
 * single-stream row is then also measured as one instance with every thread (`nano-b158 x1`), the
 * best a single stream gets, and the target is printed against both.
 *
 * On 2B-4T, llama.cpp (node-llama-cpp 3.21.1, test/llama-cpp/install.sh) runs the same file in the
 * same run, in a child process after ours at the same n: one context with --llama-sequences
 * sequences, one generation on each at once. Beside our figures: the ceiling that the int8 roof
 * (bench/int8-peak.c, one copy per thread at once) and the F16 head's bytes per step (read
 * bandwidth measured in the same run) put on the aggregate (bench/concurrency-bound.ts has the
 * formula). Timings on a shared machine are noisy: every row carries the load average.
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { hardware, isKvCacheType, type KvCacheType, readBandwidth } from "../kernels/index.js";
import { defaultConfig } from "../src/config/index.js";
import { engineThreads } from "../src/engines/pool/cpu-budget.js";
import { createCpuTurns, type VariantWorkerOptions } from "../src/engines/pool/index.js";
import {
  aggregateBounds,
  BOUND_FORMULA,
  BOUND_WITH_WEIGHTS_FORMULA,
  measureInt8Peak,
  type Roof,
  shapeCosts,
} from "./concurrency-bound.js";
import { closedLoop, concurrentStreams, withWorkers } from "./concurrency-pool.js";
import {
  percentile,
  type Round,
  type RoundsSummary,
  rateInWindow,
  summarizeRounds,
  withCpuTime,
} from "./concurrency-stats.js";
import { llamaCppInstalled } from "./llama-cpp.js";
import { ensureSyntheticModel, shapeNamed } from "./synthetic.js";
import { argValue, table, writeJson } from "./timing.js";

const listArg = (name: string, fallback: string) => (argValue(name) ?? fallback).split(",").filter(Boolean);
const numbers = (name: string, fallback: string) => listArg(name, fallback).map(Number);
const models = listArg("--models", "nano-b158,2B-4T,mixed");
const levels = numbers("--concurrency", "1,4,8,16");
const tokens = Number(argValue("--tokens") ?? 64);
const rounds = Math.max(1, Number(argValue("--rounds") ?? 3));
const hw = hardware();
const threads = Number(argValue("--threads") ?? hw.physicalCores);
const withLlama = !process.argv.includes("--skip-llama");
/** the gateway's `cpuTurns` (default on): one turn lock over the physical cores for every worker */
const cpuTurns = !process.argv.includes("--no-cpu-turns");
/** --no-batching: the workers run each generation alone, interleaved (`batching: false`), for an A/B against the step scheduler */
const batching = !process.argv.includes("--no-batching");
const llamaSequences = numbers("--llama-sequences", "1,8");
const mixedLevels = numbers("--mixed-concurrency", "4,8");
const mixedSeconds = Number(argValue("--mixed-seconds") ?? 15);
const int8PeakOverride = argValue("--int8-peak-gmacs");
/** nano-b158 as the embedded default config serves it unless --nano-instances says otherwise */
const defaultNanoInstances = defaultConfig().variants.find((v) => v.name === "nano-b158")?.instances ?? 1;
const nanoInstances = Math.max(1, Number(argValue("--nano-instances") ?? defaultNanoInstances));
/** --kv-cache: what our BitNet workers' KV caches store (default: what the embedded default config serves nano-b158 with) */
const kvCacheArg = argValue("--kv-cache") ?? defaultConfig().variants.find((v) => v.name === "nano-b158")?.kvCacheType;
if (kvCacheArg !== undefined && !isKvCacheType(kvCacheArg)) throw new Error("--kv-cache: f32 or f16");
const kvCacheType: KvCacheType | undefined = kvCacheArg;
const jsonPath = argValue("--json");
for (const m of models) {
  if (!["nano-b158", "2B-4T", "mixed"].includes(m)) throw new Error(`--models: unknown ${m} (nano-b158, 2B-4T, mixed)`);
}
if (models.includes("2B-4T") && withLlama && !llamaCppInstalled()) {
  throw new Error(
    "bench:concurrency measures llama.cpp beside 2B-4T: run test/llama-cpp/install.sh (or pass --skip-llama)",
  );
}

const NANO = join(import.meta.dirname, "..", "models", "nano");
const NANO_B158 = join(NANO, "nano-b158", "model.gguf");
const NANO_FP32 = join(NANO, "nano-fp32", "model.onnx");
const load1 = () => Number((loadavg()[0] ?? 0).toFixed(2));

interface Row extends RoundsSummary {
  readonly model: string;
  readonly engine: "tritgate" | "llama.cpp";
  readonly concurrency: number;
  /** kernel threads of each instance */
  readonly threads: number;
  /** worker threads serving the variant, each with its own copy of the model */
  readonly instances: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
  /** 2B-4T: the ceilings of bench/concurrency-bound.ts at this n, tokens/s */
  readonly boundTokensPerSecond?: number;
  readonly boundWithWeightsTokensPerSecond?: number;
}
interface MixedEngine {
  readonly variant: string;
  readonly threads: number;
  readonly tokensPerSecond: number;
  readonly requests: number;
  readonly ttftP95Ms: number;
  /** tokensPerSecond over the same engine's solo figure at this concurrency */
  readonly shareOfSolo?: number;
}
interface MixedRun {
  readonly concurrency: number;
  /**
   * budget: both at once under one CPU budget as the gateway runs them by default (BitNet's pool at all
   * the threads, elastic; ONNX at its default share, engineThreads); turns: both at all the threads under
   * the budget (ONNX cannot share, so they take turns); oversubscribed: both at all the threads, no budget
   */
  readonly setup: "solo" | "budget" | "turns" | "oversubscribed" | "split";
  readonly engines: MixedEngine[];
  /** sum of the engines' shares of their solo aggregate (runs of both engines) */
  readonly normalizedThroughput?: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
}
interface Target {
  readonly target: string;
  readonly measured: string;
  readonly ratio: number | null;
  readonly goal: number;
  readonly met: boolean | null;
}

const rows: Row[] = [];
const mixed: MixedRun[] = [];
const targets: Target[] = [];
let roof: (Roof & { int8Source: string }) | undefined;
const startedLoad = loadavg().map((l) => Number(l.toFixed(2)));
const save = () =>
  jsonPath &&
  writeJson(jsonPath, {
    bench: "concurrency",
    date: new Date().toISOString(),
    cpu: hw.cpuModel,
    isa: hw.isa,
    physicalCores: hw.physicalCores,
    threads,
    cpuTurns,
    batching,
    kvCacheType,
    tokens,
    rounds,
    loadAverageAtStart: startedLoad,
    decodeWindow:
      "aggregate decode tokens/s: in the window from the last stream's first token to the first stream's last token, each stream's token intervals inside it over their span, summed over the streams; fastest of the rounds. TTFT: submit to first token, nearest-rank percentiles over all streams of all rounds",
    bound: roof && {
      formula: BOUND_FORMULA,
      formulaWithWeights: BOUND_WITH_WEIGHTS_FORMULA,
      int8MacsPerSecond: roof.int8MacsPerSecond,
      int8Source: roof.int8Source,
      readBytesPerSecond: roof.readBytesPerSecond,
      ...shapeCosts(shapeNamed("2B-4T")),
    },
    rows,
    mixed,
    targets,
  });

/**
 * Our pool at concurrency n: fresh workers with n slots in all (`instances` of them, each with
 * `threadsEach` kernel threads), `rounds` rounds of n streams.
 */
async function measurePool(model: string, path: string, n: number, instances = 1, threadsEach = threads): Promise<Row> {
  const loadBefore = load1();
  const turns = cpuTurns ? createCpuTurns({ cores: hw.physicalCores }) : undefined;
  const slots = Math.ceil(n / instances);
  const options = { name: model, path, threads: threadsEach, slots, instances, cpuTurns: turns, batching, kvCacheType };
  const traces = await withWorkers([options], async ([worker]) => {
    const all: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const { value, cpuMs } = await withCpuTime(() => concurrentStreams(worker!, n, tokens));
      all.push({ traces: value, cpuMs });
    }
    return all;
  });
  return {
    model,
    engine: "tritgate",
    concurrency: n,
    threads: threadsEach,
    instances,
    ...summarizeRounds(traces),
    loadBefore,
    loadAfter: load1(),
  };
}

/** llama.cpp on the same file, one context with n sequences, in a child process. */
function measureLlama(model: string, path: string, n: number): Row {
  const loadBefore = load1();
  const child = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "concurrency-llama-run.ts"),
      "--model",
      path,
      "--threads",
      String(threads),
      "--sequences",
      String(n),
      "--tokens",
      String(tokens),
      "--rounds",
      String(rounds),
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 },
  );
  if (child.status !== 0) throw new Error(`llama.cpp run failed (exit ${child.status})`);
  const out = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as {
    threads: number;
    rounds: Round[];
  };
  return {
    model,
    engine: "llama.cpp",
    concurrency: n,
    threads: out.threads,
    instances: 1,
    ...summarizeRounds(out.rounds),
    loadBefore,
    loadAfter: load1(),
  };
}

function withBound(row: Row): Row {
  if (!roof) return row;
  const b = aggregateBounds(shapeCosts(shapeNamed("2B-4T")), roof, row.concurrency);
  return { ...row, boundTokensPerSecond: b.bound, boundWithWeightsTokensPerSecond: b.withWeights };
}

function push(row: Row): void {
  rows.push(row);
  save();
  process.stderr.write(
    `${row.model} ${row.engine} x${row.concurrency}: ${row.decodeTokensPerSecond.toFixed(1)} tok/s, TTFT p95 ${row.ttftMs.p95.toFixed(0)} ms (load ${row.loadBefore})\n`,
  );
}

/** Closed-loop users on each worker at once for --mixed-seconds; tokens/s counted inside the window. */
async function mixedRun(
  n: number,
  setup: MixedRun["setup"],
  variants: ReadonlyArray<{ name: string; path: string; threads: number }>,
): Promise<MixedRun> {
  const loadBefore = load1();
  const turns = setup === "turns" || setup === "budget" ? createCpuTurns({ cores: hw.physicalCores }) : undefined;
  const options: VariantWorkerOptions[] = variants.map((v) => ({
    ...v,
    slots: n,
    cpuTurns: turns,
    batching,
    kvCacheType,
  }));
  const engines = await withWorkers(options, async (workers) => {
    const from = performance.now();
    const until = from + mixedSeconds * 1000;
    const traces = await Promise.all(workers.map((w) => closedLoop(w, n, tokens, until)));
    return traces.map((t, i) => ({
      variant: variants[i]!.name,
      threads: variants[i]!.threads,
      tokensPerSecond: rateInWindow(t, from, until),
      requests: t.length,
      ttftP95Ms: percentile(
        t.filter((s) => s.tokenTimes.length > 0).map((s) => (s.tokenTimes[0] as number) - s.submittedAt),
        95,
      ),
    }));
  });
  const run: MixedRun = { concurrency: n, setup, engines, loadBefore, loadAfter: load1() };
  process.stderr.write(
    `mixed x${n} ${setup}: ${engines.map((e) => `${e.variant}@${e.threads}t ${e.tokensPerSecond.toFixed(1)} tok/s`).join(", ")}\n`,
  );
  return run;
}

function normalize(run: MixedRun, solo: ReadonlyMap<string, number>): MixedRun {
  const engines = run.engines.map((e) => ({
    ...e,
    shareOfSolo: e.tokensPerSecond / (solo.get(e.variant) ?? Number.NaN),
  }));
  return { ...run, engines, normalizedThroughput: engines.reduce((s, e) => s + e.shareOfSolo, 0) };
}

function ratioTarget(target: string, goal: number, num: Row | undefined, den: Row | undefined): void {
  if (!num || !den) {
    targets.push({ target, measured: "not measured in this run", ratio: null, goal, met: null });
    return;
  }
  const ratio = num.decodeTokensPerSecond / den.decodeTokensPerSecond;
  targets.push({
    target,
    measured: `${num.decodeTokensPerSecond.toFixed(1)} / ${den.decodeTokensPerSecond.toFixed(1)} tok/s`,
    ratio,
    goal,
    met: ratio >= goal,
  });
}

const find = (model: string, engine: Row["engine"], n: number) =>
  rows.find((r) => r.model === model && r.engine === engine && r.concurrency === n);

if (models.includes("nano-b158")) {
  // every instance may use every thread: the CPU budget gives each busy one its share (one core each when all are busy)
  const threadsEach = threads;
  for (const n of levels) push(await measurePool("nano-b158", NANO_B158, n, nanoInstances, threadsEach));
  if (nanoInstances > 1) push({ ...(await measurePool("nano-b158", NANO_B158, 1)), model: "nano-b158 x1" });
}

if (models.includes("2B-4T")) {
  const path = await ensureSyntheticModel(shapeNamed("2B-4T"), "TQ2_0");
  const measuredPeak = int8PeakOverride === undefined ? await measureInt8Peak(threads) : undefined;
  const int8MacsPerSecond = int8PeakOverride !== undefined ? Number(int8PeakOverride) * 1e9 : measuredPeak;
  if (int8MacsPerSecond !== undefined) {
    roof = {
      int8MacsPerSecond,
      int8Source: int8PeakOverride !== undefined ? "--int8-peak-gmacs" : `bench/int8-peak.c x${threads} at once`,
      readBytesPerSecond: readBandwidth(1 << 30, 5),
    };
    save();
  }
  const llamaLevels = withLlama ? llamaSequences : [];
  for (const n of levels) {
    push(withBound(await measurePool("2B-4T", path, n)));
    if (llamaLevels.includes(n)) push(measureLlama("2B-4T", path, n));
  }
  for (const n of llamaLevels.filter((n) => !levels.includes(n))) push(measureLlama("2B-4T", path, n));
}

if (models.includes("mixed")) {
  const bitnet = { name: "nano-b158", path: NANO_B158 };
  const onnx = { name: "nano-fp32", path: NANO_FP32 };
  for (const n of mixedLevels) {
    const soloB = await mixedRun(n, "solo", [{ ...bitnet, threads }]);
    const soloO = await mixedRun(n, "solo", [{ ...onnx, threads }]);
    const solo = new Map([...soloB.engines, ...soloO.engines].map((e) => [e.variant, e.tokensPerSecond]));
    mixed.push(soloB, soloO);
    const both = [
      { ...bitnet, threads },
      { ...onnx, threads },
    ];
    const byDefault = [
      { ...bitnet, threads: engineThreads(threads, "bitnet", true) },
      { ...onnx, threads: engineThreads(threads, "onnx", true) },
    ];
    mixed.push(normalize(await mixedRun(n, "budget", byDefault), solo));
    mixed.push(normalize(await mixedRun(n, "turns", both), solo));
    mixed.push(normalize(await mixedRun(n, "oversubscribed", both), solo));
    for (let k = 1; k < threads; k++) {
      const split = [
        { ...bitnet, threads: k },
        { ...onnx, threads: threads - k },
      ];
      mixed.push(normalize(await mixedRun(n, "split", split), solo));
    }
    save();
  }
}

// the issue's targets at 8 streams
ratioTarget(
  `nano-b158: 8 streams >= 4x its single-stream aggregate${nanoInstances > 1 ? ` (${nanoInstances} instances, same config)` : ""}`,
  4,
  find("nano-b158", "tritgate", 8),
  find("nano-b158", "tritgate", 1),
);
if (nanoInstances > 1) {
  ratioTarget(
    `nano-b158: 8 streams on ${nanoInstances} instances >= 4x one stream on one instance with every thread`,
    4,
    find("nano-b158", "tritgate", 8),
    find("nano-b158 x1", "tritgate", 1),
  );
}
ratioTarget(
  "2B-4T: 8 streams >= 2.5x its single-stream aggregate",
  2.5,
  find("2B-4T", "tritgate", 8),
  find("2B-4T", "tritgate", 1),
);
ratioTarget(
  "2B-4T: 8 streams >= 1.5x llama.cpp's 8-sequence aggregate",
  1.5,
  find("2B-4T", "tritgate", 8),
  find("2B-4T", "llama.cpp", 8),
);
for (const n of mixedLevels) {
  const splits = mixed.filter((m) => m.concurrency === n && m.setup === "split");
  const best = splits.reduce<MixedRun | undefined>(
    (a, b) => (a === undefined || (b.normalizedThroughput ?? 0) > (a.normalizedThroughput ?? 0) ? b : a),
    undefined,
  );
  for (const setup of ["budget", "turns", "oversubscribed"] as const) {
    const together = mixed.find((m) => m.concurrency === n && m.setup === setup);
    if (!together || !best) continue;
    const ratio = (together.normalizedThroughput ?? Number.NaN) / (best.normalizedThroughput ?? Number.NaN);
    targets.push({
      target: `mixed x${n} per engine, ${setup}: loses <= 10% against the best static thread split`,
      measured: `normalized ${together.normalizedThroughput?.toFixed(2)} vs ${best.normalizedThroughput?.toFixed(2)} (split ${best.engines.map((e) => `${e.variant}:${e.threads}`).join("+")})`,
      ratio,
      goal: 0.9,
      met: ratio >= 0.9,
    });
  }
}
save();

console.log(`tritgate concurrency bench: ${hw.cpuModel}, ${hw.physicalCores} cores, isa ${hw.isa}, ${threads} threads`);
console.log(
  `${tokens} tokens per stream, ${rounds} rounds, CPU turns ${cpuTurns ? "on" : "off"}, batching ${batching ? "on" : "off"}, KV cache ${kvCacheType ?? "f32"}, load average at start ${startedLoad.join(" ")}\n`,
);
const single = (r: Row) => find(r.model, r.engine, 1)?.decodeTokensPerSecond;
const fixed = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? "—" : v.toFixed(digits));
console.log(
  table(
    [
      "model",
      "engine",
      "instances x threads",
      "streams",
      "decode tok/s",
      "vs 1",
      "total tok/s",
      "tok per CPU s",
      "TTFT p50 ms",
      "TTFT p95 ms",
      "bound tok/s",
      "bound incl. weights",
      "window",
      "load before/after",
    ],
    rows.map((r) => {
      const one = single(r);
      return [
        r.model,
        r.engine,
        `${r.instances} x ${r.threads}`,
        String(r.concurrency),
        fixed(r.decodeTokensPerSecond),
        one ? `${(r.decodeTokensPerSecond / one).toFixed(2)}x` : "—",
        fixed(r.totalTokensPerSecond),
        fixed(r.tokensPerCpuSecond),
        fixed(r.ttftMs.p50, 0),
        fixed(r.ttftMs.p95, 0),
        fixed(r.boundTokensPerSecond),
        fixed(r.boundWithWeightsTokensPerSecond),
        r.decodeWindow,
        `${r.loadBefore} / ${r.loadAfter}`,
      ];
    }),
  ),
);
if (roof) {
  console.log(
    `\nbound: ${BOUND_FORMULA}\n  int8 ${(roof.int8MacsPerSecond / 1e9).toFixed(0)} GMAC/s (${roof.int8Source}), read ${(roof.readBytesPerSecond / 1e9).toFixed(1)} GB/s`,
  );
  console.log(`bound incl. weights: ${BOUND_WITH_WEIGHTS_FORMULA}`);
}
if (mixed.length > 0) {
  console.log(
    `\n${table(
      [
        "streams/engine",
        "setup",
        "engines (threads: tok/s, share of solo, TTFT p95 ms)",
        "normalized",
        "load before/after",
      ],
      mixed.map((m) => [
        String(m.concurrency),
        m.setup,
        m.engines
          .map(
            (e) =>
              `${e.variant}@${e.threads}: ${e.tokensPerSecond.toFixed(1)}${e.shareOfSolo === undefined ? "" : ` (${e.shareOfSolo.toFixed(2)})`}, ${e.ttftP95Ms.toFixed(0)}`,
          )
          .join("; "),
        fixed(m.normalizedThroughput, 2),
        `${m.loadBefore} / ${m.loadAfter}`,
      ]),
    )}`,
  );
}
console.log(
  `\n${table(
    ["target", "measured", "ratio", "goal", "met"],
    targets.map((t) => [
      t.target,
      t.measured,
      t.ratio === null ? "—" : `${t.ratio.toFixed(2)}x`,
      `${t.goal}x`,
      t.met === null ? "—" : t.met ? "yes" : "no",
    ]),
  )}`,
);
if (jsonPath) console.log(`\nwrote ${jsonPath}`);
process.exit(0);
