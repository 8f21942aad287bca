/**
 * Several instances of one variant — the same model on `instances` worker threads — behind one
 * `VariantWorker`, as Triton's instance groups or vLLM's data parallelism serve a small model.
 *
 * Why: a model as small as nano-b158 does not get faster with more kernel threads (each matmul is a
 * few microseconds, and a second thread mostly waits at the job's end), so one worker with every
 * core leaves the second core idle while batching amortises the per-step cost on one. Two instances
 * at one thread each compute on both cores at once: the kernel pool runs a one-thread job on its
 * caller, without the pool's lock, so the instances never queue for each other.
 *
 * Each request goes to the loaded instance with a free slot and the least work (running plus
 * waiting), the lowest index on a tie, so one stream at a time stays on the first instance; each instance keeps its own queue, KV
 * budget, batching, restarts and idle unloading. The counters the router and the metrics read are
 * the instances' sums; what a new request would wait behind is what the instance it would go to
 * has. Memory grows with the count: each instance loads its own copy of the weights.
 */
import type { CpuTurnStats } from "./cpu-turns.js";
import {
  startVariantWorker,
  type VariantWorker,
  type VariantWorkerOptions,
  type VariantWorkerState,
} from "./handle.js";
import type { VariantInfo } from "./protocol.js";

/** Which state the group shows: the most useful of its instances' (a request can go to a ready one). */
const STATE_ORDER: readonly VariantWorkerState[] = ["ready", "reloading", "unloaded", "loading", "failed", "closed"];
/** States in which an instance takes requests (`loading` queues them too, behind the first load). */
const ACCEPTS: ReadonlySet<VariantWorkerState> = new Set(["ready", "reloading", "unloaded", "loading"]);

export interface VariantInstancesOptions extends VariantWorkerOptions {
  /** worker threads running the variant, each with its own copy of the model; default 1 (a plain worker) */
  readonly instances?: number | undefined;
}

/** One worker, or a group of `instances` that looks like one. */
export function startVariantInstances(options: VariantInstancesOptions): VariantWorker {
  const { instances = 1, ...worker } = options;
  const count = Math.max(1, Math.floor(instances));
  if (count === 1) return startVariantWorker(worker);
  return groupOf(Array.from({ length: count }, () => startVariantWorker(worker)));
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

const load = (m: VariantWorker) => m.running + m.waiting;

/** The instance with the least running + waiting among `members` that pass `ok`, the lowest index on a tie. */
function leastLoaded(members: readonly VariantWorker[], ok: (m: VariantWorker) => boolean): VariantWorker | undefined {
  let best: VariantWorker | undefined;
  for (const m of members) if (ok(m) && (!best || load(m) < load(best))) best = m;
  return best;
}

/**
 * Where the next request goes: a loaded instance with a free slot first (an unloaded one would make
 * the request wait for a load), else the least busy instance that takes requests at all.
 */
function pick(members: readonly VariantWorker[]): VariantWorker {
  return (
    leastLoaded(members, (m) => m.state === "ready" && load(m) < m.slots) ??
    leastLoaded(members, (m) => ACCEPTS.has(m.state)) ??
    // none takes requests: the first one refuses it with its own reason
    (members[0] as VariantWorker)
  );
}

/** The loaded instances' info as one variant's: the first one's, with their KV budgets summed when all say. */
function combinedInfo(infos: readonly VariantInfo[]): VariantInfo {
  const info = infos[0] as VariantInfo;
  const budgets = infos.map((i) => i.kvTokenBudget);
  return budgets.every((b) => b !== undefined) ? { ...info, kvTokenBudget: sum(budgets as number[]) } : info;
}

function groupOf(members: readonly VariantWorker[]): VariantWorker {
  const first = members[0] as VariantWorker;
  // loaded once every instance settled: with the loaded ones' KV budgets, or the first failure when none loaded
  const ready: Promise<VariantInfo> = Promise.allSettled(members.map((m) => m.ready)).then((settled) => {
    const loaded = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    if (loaded.length === 0) throw (settled[0] as PromiseRejectedResult).reason;
    return combinedInfo(loaded);
  });
  // like a single worker's: a load failure is reported through `state`/`error`, never unhandled
  ready.catch(() => {});
  const total = (read: (m: VariantWorker) => number) => sum(members.map(read));
  const nullableSum = (values: ReadonlyArray<number | null>) =>
    values.every((v) => v === null) ? null : sum(values.map((v) => v ?? 0));
  return {
    name: first.name,
    path: first.path,
    ready,
    get state() {
      const states = new Set(members.map((m) => m.state));
      return STATE_ORDER.find((s) => states.has(s)) ?? first.state;
    },
    get error() {
      return members.find((m) => m.error !== undefined)?.error;
    },
    get info() {
      const infos = members.map((m) => m.info);
      if (infos.some((i) => i === undefined)) return members.find((m) => m.info)?.info;
      return combinedInfo(infos as VariantInfo[]);
    },
    get slots() {
      return total((m) => m.slots);
    },
    get running() {
      return total((m) => m.running);
    },
    get waiting() {
      return total((m) => m.waiting);
    },
    waitingAtOrAbove(priority) {
      return pick(members).waitingAtOrAbove(priority);
    },
    get kvTokensInUse() {
      return total((m) => m.kvTokensInUse);
    },
    get kvTokensReserved() {
      return total((m) => m.kvTokensReserved);
    },
    get kvTokenCapacity() {
      return nullableSum(members.map((m) => m.kvTokenCapacity));
    },
    get batchSize() {
      return nullableSum(members.map((m) => m.batchSize));
    },
    get batchSteps() {
      const all = members.map((m) => m.batchSteps);
      return {
        steps: sum(all.map((b) => b.steps)),
        sequences: sum(all.map((b) => b.sequences)),
        largest: Math.max(...all.map((b) => b.largest)),
      };
    },
    get restarts() {
      return total((m) => m.restarts);
    },
    get unloads() {
      return total((m) => m.unloads);
    },
    get pendingLoadMs() {
      return pick(members).pendingLoadMs;
    },
    get cpuTurnStats(): CpuTurnStats | null {
      const all = members.map((m) => m.cpuTurnStats ?? null);
      if (all.every((s) => s === null)) return null;
      const present = all.filter((s): s is CpuTurnStats => s !== null);
      return {
        turns: sum(present.map((s) => s.turns)),
        waitMs: sum(present.map((s) => s.waitMs)),
        heldMs: sum(present.map((s) => s.heldMs)),
        // the instances' latest calls together (each its own seat of the budget)
        cores: sum(present.map((s) => s.cores)),
      };
    },
    generate(request, onToken, signal) {
      return pick(members).generate(request, onToken, signal);
    },
    prewarm() {
      for (const m of members) m.prewarm();
    },
    crash() {
      first.crash();
    },
    async close() {
      await Promise.all(members.map((m) => m.close()));
    },
  };
}
