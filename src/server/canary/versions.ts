/**
 * The versions behind each served variant name: its stable version's worker, and the canary's
 * beside it when the registry has one. The router sees one variant (the stable worker's state and
 * load); where the gateway turns a routed variant into a worker (`Gateway.run`), `targets` splits
 * the traffic by a hash of the request id against the canary weight. Every attempt lands in its
 * version's sliding window; after each canary attempt the pure `judgeCanary` compares the two
 * windows, and a verdict is applied here at once (the canary stops getting traffic before the
 * database hears of it) and then recorded in the registry with its reason and figures — only while
 * the judged version is still the canary there (`decideCanary`): when another replica or an operator
 * decided first, this gateway follows the registry instead of overriding it with its own window.
 * `follow` keeps every gateway on one database serving what the registry says: a version registered,
 * a weight set, a promotion or a rollback made by any of them is loaded by the others within one
 * poll of the registry's version counter (`DEFAULT_REFRESH_MS`) plus one read.
 */
import {
  type AttemptSample,
  type CanaryBounds,
  type CanaryVerdict,
  judgeCanary,
  routesToCanary,
  type WindowStats,
} from "../../../router/index.js";
import { checkModelFile, engineOfFile } from "../../db/model-file.js";
import type { Database } from "../../db/open.js";
import type { Polled } from "../../db/polled.js";
import {
  decideCanary,
  listTransitions,
  listVersions,
  promoteCanary,
  RegistryError,
  registerVersion,
  rollBackCanary,
  type ServingVersions,
  setCanaryWeight,
  type TransitionCause,
  watchRegistry,
} from "../../db/registry.js";
import type { VariantRow, VariantTransitionRow } from "../../db/schema.js";
import type { VariantWorker } from "../../engines/pool/index.js";
import type { Logger } from "../log.js";
import type { ServedVariant, VariantRuntime } from "../types.js";
import { AttemptWindow } from "./window.js";

/** The version a served variant has when no registry names one. */
export const UNVERSIONED = "1";
const DEFAULT_WINDOW_REQUESTS = 200;
const DEFAULT_LOAD_TIMEOUT_MS = 120_000;
/** How long a retired worker may finish what it runs before it is closed anyway. */
const RETIRE_DRAIN_MS = 30_000;

export interface CanaryPolicy extends CanaryBounds {
  /** attempts each version's window keeps */
  readonly windowRequests: number;
}

/** What the gateway needs to run canaries: the registry's database, the bounds, and a way to load a version. */
export interface RegistryDeps {
  readonly database: Database;
  readonly policy: CanaryPolicy;
  /** starts a worker for a version's file (serve: the variant's slots and threads) */
  readonly startWorker: (name: string, path: string) => VariantWorker;
  /** the canary versions the registry held at start, loaded beside their stable versions */
  readonly canaries?: readonly VariantRow[];
  /** registration waits this long for the new version to load before answering; default 120 s */
  readonly loadTimeoutMs?: number;
}

/** A canary controller's verdict, as written to the registry. */
interface Verdict {
  readonly version: string;
  readonly action: CanaryVerdict["action"];
  readonly cause: TransitionCause;
}

/** One version's worker and its window. */
interface Live {
  readonly version: string;
  readonly worker: VariantRuntime;
  readonly window: AttemptWindow;
}

interface CanaryLive extends Live {
  readonly worker: VariantWorker;
  weight: number;
  /** a verdict has been reached: no more traffic, no second verdict */
  settled: boolean;
}

/** Which worker serves an attempt, and as which version. */
export interface VersionTarget {
  readonly version: string;
  readonly worker: VariantRuntime;
  readonly canary: boolean;
}

/** A registry row with what this gateway is doing with it. */
export interface VersionView extends VariantRow {
  readonly live: {
    readonly role: "stable" | "canary";
    readonly worker: VariantRuntime["state"];
    readonly window: WindowStats;
    /** attempts since the version got its role here */
    readonly attempts: number;
  } | null;
}

export interface RegisterInput {
  readonly name: string;
  readonly path: string;
  readonly sha256?: string | undefined;
  readonly version?: string | undefined;
}

/** A served variant's face to the router and the pool: the stable version's worker, swapped on promotion. */
class VersionedVariant implements VariantRuntime {
  canary: CanaryLive | undefined;
  /** a version the registry made active elsewhere, loading here before it takes over from `stable` */
  incoming: { readonly version: string; readonly worker: VariantWorker } | undefined;
  /** changes this gateway is making to the registry for this name, not committed yet (sync waits for them) */
  pending = 0;
  /** a verdict applied here that the database has not taken yet */
  unrecorded: Verdict | undefined;

  constructor(public stable: Live) {}

  get name() {
    return this.stable.worker.name;
  }
  get state() {
    return this.stable.worker.state;
  }
  get error() {
    return this.stable.worker.error;
  }
  get info() {
    return this.stable.worker.info;
  }
  get slots() {
    return this.stable.worker.slots;
  }
  get running() {
    return this.stable.worker.running;
  }
  get waiting() {
    return this.stable.worker.waiting;
  }
  waitingAtOrAbove(priority: number) {
    return this.stable.worker.waitingAtOrAbove?.(priority) ?? this.stable.worker.waiting;
  }
  /** the stable worker's, like running and waiting (a canary's generations are not counted here) */
  get kvTokensInUse() {
    return this.stable.worker.kvTokensInUse;
  }
  /** the stable worker's: an idle-unloaded stable version is what the next request waits for */
  get pendingLoadMs() {
    return this.stable.worker.pendingLoadMs;
  }
  prewarm() {
    this.stable.worker.prewarm?.();
  }
  get batchSize() {
    return this.stable.worker.batchSize;
  }
  /** the stable worker's CPU-budget totals (the metrics' cpu_turns, cpu_cores, cpu_turn_wait) */
  get cpuTurnStats() {
    return this.stable.worker.cpuTurnStats;
  }
  generate(...args: Parameters<VariantRuntime["generate"]>) {
    return this.stable.worker.generate(...args);
  }
}

export class VariantVersions {
  /** the served variants with their workers behind a versioned face (what the router and metrics read) */
  readonly served: readonly ServedVariant[];
  private readonly byName = new Map<string, VersionedVariant>();
  /** registry writes of automatic transitions not yet done */
  private readonly writes = new Set<Promise<unknown>>();
  /** retired workers still draining */
  private readonly retiring = new Set<Promise<unknown>>();
  /** the registry's serving versions, polled (`follow`) */
  private watch: Polled<ServingVersions[]> | undefined;

  constructor(
    variants: readonly ServedVariant[],
    private readonly registry: RegistryDeps | undefined,
    private readonly log: Logger,
  ) {
    const capacity = registry?.policy.windowRequests ?? DEFAULT_WINDOW_REQUESTS;
    this.served = variants.map((v) => {
      const versioned = new VersionedVariant({
        version: v.version ?? UNVERSIONED,
        worker: v.worker,
        window: new AttemptWindow(capacity),
      });
      this.byName.set(v.config.name, versioned);
      return { ...v, worker: versioned };
    });
    for (const row of registry?.canaries ?? []) {
      const versioned = this.byName.get(row.name);
      if (versioned) this.load(versioned, row);
      else log.warn(`canary ${row.name}@${row.version}: no such variant is served; not loaded`);
    }
  }

  /** Whether a registry backs the versions (without one, every variant serves version "1" alone). */
  get enabled(): boolean {
    return this.registry !== undefined;
  }

  /** The workers to try for `name`, in order: its canary when this request falls on it, then its stable version. */
  targets(name: string, requestKey: string): VersionTarget[] {
    const versioned = this.byName.get(name);
    if (!versioned) return [];
    const stable: VersionTarget = { version: versioned.stable.version, worker: versioned.stable.worker, canary: false };
    const canary = versioned.canary;
    if (!canary || canary.settled || !routesToCanary(requestKey, canary.weight)) return [stable];
    if (canary.worker.state === "failed") {
      this.automatic(name, versioned, canary, "rollback", `the canary's worker failed: ${canary.worker.error ?? "?"}`);
      return [stable];
    }
    if (canary.worker.state !== "ready") return [stable];
    return [{ version: canary.version, worker: canary.worker, canary: true }, stable];
  }

  /** One attempt's result on a version; a canary attempt may settle its rollout. */
  observe(name: string, version: string, sample: AttemptSample): void {
    const versioned = this.byName.get(name);
    if (!versioned) return;
    const canary = versioned.canary;
    if (canary && canary.version === version) {
      if (canary.settled) return;
      canary.window.push(sample);
      if (!this.registry) return;
      const verdict = judgeCanary({
        canary: canary.window.stats(),
        canaryTotal: canary.window.total,
        stable: versioned.stable.window.stats(),
        bounds: this.registry.policy,
      });
      if (verdict) this.automatic(name, versioned, canary, verdict.action, verdict.reason, verdict);
      return;
    }
    if (versioned.stable.version === version) versioned.stable.window.push(sample);
  }

  /**
   * Registers a file as the variant's next version (its canary, weight 0), loads it beside the stable
   * version and waits for the load. A file that does not load is rolled back at once, with why.
   */
  async register(input: RegisterInput): Promise<{ readonly row: VariantRow; readonly loaded: boolean }> {
    const registry = this.need();
    const versioned = this.versionedOf(input.name);
    const engine = engineOfFile(input.path);
    const fileSha256 = await checkModelFile(input.path, input.sha256);
    const { row, canary } = await this.changing(versioned, async () => {
      const row = await registerVersion(
        registry.database,
        { name: input.name, version: input.version, path: input.path, fileSha256, engine },
        { automatic: false, reason: "registered by an operator" },
      );
      return { row, canary: this.load(versioned, row) };
    });
    let timer: NodeJS.Timeout | undefined;
    const loaded = await Promise.race([
      canary.worker.ready.then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), registry.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    await this.settled();
    return { row, loaded };
  }

  /** Sets the share of the variant's requests its canary gets. */
  async setWeight(name: string, weight: number, reason = "set by an operator"): Promise<VariantRow> {
    const registry = this.need();
    const canary = await this.canaryNow(name);
    return this.changing(this.versionedOf(name), async () => {
      const row = await setCanaryWeight(registry.database, name, weight, { automatic: false, reason });
      canary.weight = weight;
      return row;
    });
  }

  /** An operator's promotion: the canary serves everything as the stable version; the old one is retired. */
  async promote(name: string, reason = "promoted by an operator"): Promise<VariantRow> {
    const registry = this.need();
    const versioned = this.versionedOf(name);
    const canary = await this.canaryNow(name);
    if (canary.worker.state !== "ready") {
      throw new RegistryError("no_canary", `canary ${name}@${canary.version} is not loaded (${canary.worker.state})`);
    }
    const figures = this.figures(versioned, canary);
    return this.changing(versioned, async () => {
      const { promoted } = await promoteCanary(registry.database, name, { automatic: false, reason, figures });
      this.promoteLive(versioned, canary);
      return promoted;
    });
  }

  /** An operator's rollback: the canary is retired, the stable version serves everything. */
  async rollback(name: string, reason = "rolled back by an operator"): Promise<VariantRow> {
    const registry = this.need();
    const versioned = this.versionedOf(name);
    const canary = await this.canaryNow(name);
    const figures = this.figures(versioned, canary);
    return this.changing(versioned, async () => {
      const row = await rollBackCanary(registry.database, name, { automatic: false, reason, figures });
      this.dropLive(versioned, canary);
      return row;
    });
  }

  /** Every registered version, with what this gateway serves of it. */
  async list(): Promise<VersionView[]> {
    const rows = await listVersions(this.need().database);
    return rows.map((row) => {
      const versioned = this.byName.get(row.name);
      const live =
        versioned?.canary?.version === row.version && row.status === "canary"
          ? { role: "canary" as const, ...versioned.canary }
          : versioned?.stable.version === row.version && row.status === "active"
            ? { role: "stable" as const, ...versioned.stable }
            : undefined;
      return {
        ...row,
        live: live
          ? { role: live.role, worker: live.worker.state, window: live.window.stats(), attempts: live.window.total }
          : null,
      };
    });
  }

  transitions(variant: string | undefined, limit: number): Promise<VariantTransitionRow[]> {
    return listTransitions(this.need().database, { variant, limit });
  }

  /** Resolves when every automatic transition started so far has been written. */
  async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  /** Closes the workers this object started (canaries, promoted versions) once their transitions are written. */
  async close(): Promise<void> {
    this.watch?.close();
    await this.settled();
    while (this.retiring.size > 0) await Promise.allSettled([...this.retiring]);
    const workers = new Set<VariantRuntime>();
    for (const v of this.byName.values()) {
      if (v.canary) workers.add(v.canary.worker);
      if (v.incoming) workers.add(v.incoming.worker);
      workers.add(v.stable.worker);
    }
    await Promise.all([...workers].map((w) => closeIfPossible(w)));
  }

  private need(): RegistryDeps {
    if (!this.registry) throw new RegistryError("unknown_variant", "this gateway runs without the model registry");
    return this.registry;
  }

  private versionedOf(name: string): VersionedVariant {
    const versioned = this.byName.get(name);
    if (!versioned)
      throw new RegistryError("unknown_variant", `this gateway serves no variant ${JSON.stringify(name)}`);
    return versioned;
  }

  private canaryOf(name: string): CanaryLive {
    const canary = this.versionedOf(name).canary;
    if (!canary || canary.settled) {
      throw new RegistryError("no_canary", `variant ${name} has no canary version (register one first)`);
    }
    return canary;
  }

  /** The live canary of `name`; when there is none here, after reloading the registry (another replica may have just registered it). */
  private async canaryNow(name: string): Promise<CanaryLive> {
    const canary = this.versionedOf(name).canary;
    if ((!canary || canary.settled) && this.watch) await this.watch.reload();
    return this.canaryOf(name);
  }

  private load(versioned: VersionedVariant, row: VariantRow): CanaryLive {
    const registry = this.need();
    const worker = registry.startWorker(row.name, row.path);
    const canary: CanaryLive = {
      version: row.version,
      worker,
      window: new AttemptWindow(registry.policy.windowRequests),
      weight: row.canaryWeight,
      settled: false,
    };
    versioned.canary = canary;
    worker.ready.catch(() => {
      if (versioned.canary === canary) {
        this.automatic(row.name, versioned, canary, "rollback", `the version did not load: ${worker.error ?? "?"}`);
      }
    });
    return canary;
  }

  /** Applies a verdict in memory at once, then records it; a failed write is logged (memory stays safe). */
  private automatic(
    name: string,
    versioned: VersionedVariant,
    canary: CanaryLive,
    action: CanaryVerdict["action"],
    reason: string,
    verdict?: CanaryVerdict,
  ): void {
    if (canary.settled) return;
    const figures = verdict ? { rule: verdict.rule, ...verdict.figures } : this.figures(versioned, canary);
    const cause: TransitionCause = { automatic: true, reason, figures };
    if (action === "rollback") this.dropLive(versioned, canary);
    else this.promoteLive(versioned, canary);
    const line = `canary ${name}@${canary.version} ${action === "rollback" ? "rolled back" : "promoted"}: ${reason}`;
    if (action === "rollback") this.log.warn(line);
    else this.log.info(line);
    this.record(versioned, { version: canary.version, action, cause });
  }

  /**
   * Writes a verdict this gateway applied. One the database did not take (unreachable) is kept, so that
   * `sync` neither reloads the canary it judged nor undoes its promotion, and is written again on the
   * next reload that still finds that canary.
   */
  private record(versioned: VersionedVariant, verdict: Verdict): void {
    const registry = this.need();
    const { name } = versioned;
    const at = `canary ${name}@${verdict.version}`;
    const write = this.changing(versioned, () =>
      decideCanary(registry.database, name, verdict.version, verdict.action, verdict.cause).then(
        (made) => {
          versioned.unrecorded = undefined;
          // another replica or an operator decided first: the registry is the truth, and the reload follows it
          if (!made) this.log.info(`${at}: already decided elsewhere; following the registry`);
        },
        (e) => {
          versioned.unrecorded = verdict;
          this.log.error(`${at}: the ${verdict.action} was applied but not recorded yet: ${String(e)}`);
        },
      ),
    );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  /**
   * Polls the registry (`watchRegistry`) and serves what it says from then on: see `sync`. Call once,
   * after construction; `close` stops it.
   */
  async follow(options: { readonly refreshMs?: number } = {}): Promise<void> {
    const registry = this.need();
    this.watch = await watchRegistry(registry.database, {
      ...options,
      onLoad: (serving) => this.sync(serving),
      onError: (e) => this.log.warn(`could not reload the model registry (keeping what serves): ${String(e)}`),
    });
    this.sync(this.watch.current());
  }

  /**
   * Makes what this gateway serves match the registry's `serving` versions, for every name without a
   * change of this gateway's own in flight (its reload after the commit syncs that one): a canary the
   * registry no longer has stops getting traffic at once (promoted: it becomes the stable version
   * here too); a canary it has is loaded, or gets its weight; an active version this gateway does not
   * serve (promoted while its canary was not loaded here) is loaded and takes over once ready.
   */
  sync(serving: readonly ServingVersions[]): void {
    for (const entry of serving) {
      const versioned = this.byName.get(entry.name);
      if (!versioned || versioned.pending > 0) continue;
      const { active, canary } = entry;
      if (versioned.unrecorded) {
        // this gateway's verdict on that canary stands until the registry has it (or another one)
        if (canary?.version === versioned.unrecorded.version) {
          this.record(versioned, versioned.unrecorded);
          continue;
        }
        versioned.unrecorded = undefined;
      }
      const live = versioned.canary;
      if (live && live.version !== canary?.version) {
        if (active?.version === live.version) {
          this.log.info(`canary ${entry.name}@${live.version} promoted in the registry; serving it as stable`);
          if (live.worker.state === "ready") this.promoteLive(versioned, live);
          else {
            // still loading here: the old stable version serves until it is ready
            live.settled = true;
            versioned.canary = undefined;
            this.takeOver(versioned, active, live.worker);
          }
        } else {
          this.log.warn(`canary ${entry.name}@${live.version} rolled back in the registry; its traffic goes to stable`);
          this.dropLive(versioned, live);
        }
      }
      if (active && active.version !== versioned.stable.version) this.takeOver(versioned, active);
      if (canary) {
        if (versioned.canary?.version === canary.version) versioned.canary.weight = canary.canaryWeight;
        else if (canary.version !== versioned.stable.version) {
          this.log.info(`canary ${entry.name}@${canary.version} registered in the registry; loading it`);
          this.load(versioned, canary);
        }
      }
    }
  }

  /** Runs a registry change of this gateway's for `versioned`, holding its sync off until the change is done. */
  private async changing<T>(versioned: VersionedVariant, change: () => Promise<T>): Promise<T> {
    versioned.pending++;
    try {
      return await change();
    } finally {
      versioned.pending--;
      // a poll skipped meanwhile saw the counter move: reload, so this name syncs with what committed
      this.watch?.reload().catch((e) => this.log.warn(`could not reload the model registry: ${String(e)}`));
    }
  }

  /**
   * Loads the registry's active version `row` (or takes the worker `loading` it already has) and, once it
   * is ready, serves it as stable (the old one retires).
   */
  private takeOver(versioned: VersionedVariant, row: VariantRow, loading?: VariantWorker): void {
    if (versioned.incoming?.version === row.version) return;
    const registry = this.need();
    const worker = loading ?? registry.startWorker(row.name, row.path);
    const incoming = { version: row.version, worker };
    if (versioned.incoming) this.retire(versioned.incoming.worker);
    versioned.incoming = incoming;
    this.log.info(`variant ${row.name}: version ${row.version} is active in the registry; loading it`);
    worker.ready.then(
      () => {
        if (versioned.incoming !== incoming) return;
        versioned.incoming = undefined;
        const old = versioned.stable;
        versioned.stable = { version: row.version, worker, window: new AttemptWindow(registry.policy.windowRequests) };
        this.retire(old.worker);
        this.log.info(`variant ${row.name}: serving version ${row.version}`);
      },
      () => {
        if (versioned.incoming !== incoming) return;
        versioned.incoming = undefined;
        this.log.error(
          `variant ${row.name}: version ${row.version} did not load (${worker.error ?? "?"}); still serving ${versioned.stable.version}`,
        );
      },
    );
  }

  private figures(versioned: VersionedVariant, canary: CanaryLive): Record<string, unknown> {
    return {
      canary: canary.window.stats(),
      canaryTotal: canary.window.total,
      stable: versioned.stable.window.stats(),
      bounds: this.registry?.policy ?? null,
    };
  }

  private dropLive(versioned: VersionedVariant, canary: CanaryLive): void {
    canary.settled = true;
    canary.weight = 0;
    if (versioned.canary === canary) versioned.canary = undefined;
    this.retire(canary.worker);
  }

  private promoteLive(versioned: VersionedVariant, canary: CanaryLive): void {
    canary.settled = true;
    const old = versioned.stable;
    versioned.stable = { version: canary.version, worker: canary.worker, window: canary.window };
    if (versioned.canary === canary) versioned.canary = undefined;
    this.retire(old.worker);
  }

  /** Lets a worker finish what it is running (bounded), then closes it. */
  private retire(worker: VariantRuntime): void {
    const done = (async () => {
      const deadline = performance.now() + RETIRE_DRAIN_MS;
      while ((worker.running > 0 || worker.waiting > 0) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await closeIfPossible(worker);
    })().catch((e) => this.log.warn(`closing a retired worker of ${worker.name}: ${String(e)}`));
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }
}

async function closeIfPossible(worker: VariantRuntime): Promise<void> {
  const close = (worker as Partial<Pick<VariantWorker, "close">>).close;
  if (typeof close === "function") await close.call(worker);
}
