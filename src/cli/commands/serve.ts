import { statSync } from "node:fs";
import { hardware } from "../../../kernels/index.js";
/**
 * `tritgate serve [--config FILE] [--host H] [--port P]`: the gateway. Loads the config (the
 * embedded default when none is given), starts one worker per variant (a missing model file is
 * reported as not ready, never fatal), prints the demo key once, and serves until SIGTERM/SIGINT.
 */
import { type MeasuredCard, readModelCard, resolveVariantFigures } from "../../config/card.js";
import { type GatewayConfig, idleUnloadMsOf, loadConfig, resolveStateDir, variantCost } from "../../config/index.js";
import {
  createReports,
  driverFor,
  ensureAdminToken,
  ensureDemoKey,
  openTenancy,
  type Recording,
  startRecording,
  type Tenancy,
} from "../../db/index.js";
import { type ServingVersions, servingVersions } from "../../db/registry.js";
import type { TextEmbedder } from "../../engines/bitnet/index.js";
import {
  type CpuTurns,
  createCpuTurns,
  engineOfPath,
  engineThreads,
  startVariantInstances,
  type VariantInstancesOptions,
} from "../../engines/pool/index.js";
import { createGateway, type RunningServer, type ServedVariant } from "../../server/index.js";
import { type DecisionRecorder, MemoryRecorder } from "../../server/recorder.js";
import { createRateLimiter } from "../../tenants/index.js";
import { type Command, parseCommandLine } from "../command.js";
import { ListenAddressError, listenAddress, listenAll, operationsAddress } from "../listen.js";
import { FIRST_VERSION, seedFromConfig } from "../registry.js";
import { markRunning, runningGateway, unmarkRunning } from "../running-gateway.js";

const USAGE = `usage: tritgate serve [--config FILE] [--host HOST] [--port PORT] [--state-dir DIR]
  --config FILE     gateway config (YAML or JSON); default: the embedded config (three tiers, a demo tenant,
                    the nano model family)
  --host, --port    where to listen; default: HOST and PORT from the environment, else server.host and
                    server.port of the config (127.0.0.1:8080)
  REDIS_URL         share rate-limit counters between replicas through Redis
  DATABASE_URL      keep tenants and keys, and record requests and decisions, in this PostgreSQL;
                    default: embedded PGlite in the state dir (one gateway per state dir)
  TRITGATE_ADMIN_TOKEN  the bearer token for /admin; unset: one is generated on the first start, printed once`;

/** Quality is measured by `tritgate eval`; until a variant has been measured the router gets a
 * stated assumption instead of a silent one. */
const UNMEASURED_QUALITY = 0.5;

function servedVariants(
  config: GatewayConfig,
  registry: readonly ServingVersions[],
  log: (line: string) => void,
  cpuTurns: CpuTurns | undefined,
): ServedVariant[] {
  const references = new Set(config.families.map((f) => f.reference));
  return config.variants.map((configured) => {
    // the registry's active version is what serves: after a promotion it is not the config's file
    const active = registry.find((r) => r.name === configured.name)?.active;
    const v = active ? { ...configured, path: active.path } : configured;
    if (active && active.path !== configured.path) {
      log(`variant ${v.name}: serving registry version ${active.version} (${active.path}), not the config's file`);
    }
    let card: MeasuredCard | undefined;
    try {
      card = readModelCard(v.path);
    } catch (e) {
      log(`variant ${v.name}: ignoring its card (${(e as Error).message})`);
    }
    const figures = resolveVariantFigures(v, card, references.has(v.name), UNMEASURED_QUALITY);
    if (figures.qualitySource === "assumed") {
      log(`variant ${v.name}: quality not measured yet, routing assumes ${UNMEASURED_QUALITY}`);
    }
    return {
      config: {
        name: v.name,
        family: v.family,
        engine: v.engine,
        quality: figures.quality,
        card: {
          prefillTokensPerSecond: figures.prefillTokensPerSecond,
          decodeTokensPerSecond: figures.decodeTokensPerSecond,
        },
        cost: variantCost(v),
        // a missing model file is the worker's to report (the variant is not ready), not a crash here
        ...modelBytes(v.path),
      },
      worker: startVariantInstances({
        ...workerOptions(config, v.name, v.path, cpuTurns),
        idleUnloadMs: idleUnloadMsOf(config, configured),
      }),
      version: active?.version ?? FIRST_VERSION,
    };
  });
}

/** The cores every engine of the process shares: the config's `threads`, else TRITGATE_THREADS, else the physical cores. */
function cpuBudget(config: GatewayConfig): number {
  return config.threads ?? hardware().threads;
}

/** What a variant's workers start with (its config entry's instances, slots and batching budgets); `path` may be a canary's file. */
function workerOptions(
  config: GatewayConfig,
  name: string,
  path: string,
  cpuTurns: CpuTurns | undefined,
): VariantInstancesOptions {
  const v = config.variants.find((entry) => entry.name === name);
  const servesBitnet = config.variants.some((entry) => entry.engine === "bitnet");
  return {
    name,
    path,
    threads: engineThreads(cpuBudget(config), v?.engine ?? engineOfPath(path), servesBitnet),
    cpuTurns,
    slots: v?.slots,
    instances: v?.instances,
    kvCacheType: v?.kvCacheType,
    stepTokenBudget: v?.stepTokenBudget,
    kvTokenBudget: v?.kvTokenBudget,
    maxKvWaitMs: v?.maxKvWaitMs,
  };
}

/** The semantic cache's embedder, from the variant the config names; a model that cannot be read leaves semantic tiers exact. */
async function cacheEmbedder(config: GatewayConfig, log: (line: string) => void): Promise<TextEmbedder | undefined> {
  const name = config.responseCache.embeddingVariant;
  const variant = config.variants.find((v) => v.name === name);
  if (!variant) return undefined;
  try {
    // imported here: the main thread loads the BitNet engine's modules only when a tier is semantic
    const { loadTokenEmbedder } = await import("../../engines/bitnet/index.js");
    return await loadTokenEmbedder(variant.path);
  } catch (e) {
    log(
      `response cache: cannot read ${variant.name}'s token embeddings (${(e as Error).message}); semantic tiers cache exact answers only`,
    );
    return undefined;
  }
}

export const serveCommand: Command = {
  name: "serve",
  summary: "serve the OpenAI-compatible gateway (what `npm start` runs)",
  async run(args) {
    const line = parseCommandLine("serve", USAGE, args, {
      config: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "state-dir": { type: "string" },
      help: { type: "boolean" },
    });
    if (typeof line === "number") return line;
    const { values } = line;
    let config: GatewayConfig;
    try {
      config = loadConfig(values.config as string | undefined);
    } catch (e) {
      console.error(`tritgate serve: ${(e as Error).message}`);
      return 1;
    }
    let address: ReturnType<typeof listenAddress>;
    try {
      address = listenAddress(values as { host?: string; port?: string }, process.env, config.server);
    } catch (e) {
      if (!(e instanceof ListenAddressError)) throw e;
      console.error(`tritgate serve: ${e.message}`);
      return 2;
    }
    const log = (line: string) => console.log(`[tritgate] ${line}`);
    const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
    const embedded = driverFor(process.env.DATABASE_URL) === "pglite";
    if (embedded) {
      const other = runningGateway(stateDir);
      if (other) {
        console.error(
          `tritgate serve: a gateway (pid ${other.pid}${other.url ? `, ${other.url}` : ""}) already serves from ${stateDir}; ` +
            "its embedded database is one process's. Use another --state-dir, or DATABASE_URL for replicas.",
        );
        return 1;
      }
      markRunning(stateDir);
    }
    const limiter = createRateLimiter({ redisUrl: process.env.REDIS_URL });
    let recording: Recording | undefined;
    let tenancy: Tenancy | undefined;
    const release = async () => {
      tenancy?.close();
      await recording?.close(); // drains every queued row into the database (or its journal)
      await limiter.close();
      unmarkRunning(stateDir);
    };
    try {
      recording = await startRecording({ url: process.env.DATABASE_URL, stateDir });
      tenancy = await openTenancy({
        database: recording.database,
        config,
        stateDir,
        onError: (e) => log(`could not reload tenants and keys (keeping the last ones): ${(e as Error).message}`),
      });
    } catch (e) {
      console.error(`tritgate serve: cannot open the database: ${(e as Error).message}`);
      await release().catch(() => undefined);
      return 1;
    }
    const { database } = recording;
    log(`recording to ${database.driver === "pglite" ? "PGlite in the state dir" : "PostgreSQL"}`);
    if (tenancy.seeded) log("tiers, tenants and keys seeded from the config; from now on the database holds them");
    if (tenancy.legacy.file) {
      log(
        `imported ${tenancy.legacy.imported} key record(s) from ${tenancy.legacy.file} (now ${tenancy.legacy.file}.imported)` +
          (tenancy.legacy.skipped > 0 ? `; skipped ${tenancy.legacy.skipped} of tenants not in the database` : ""),
      );
    }
    let registry: ServingVersions[];
    try {
      const seeded = await seedFromConfig(database, config, log);
      if (seeded.length > 0) log(`model registry: seeded ${seeded.join(", ")} from the config`);
      registry = await servingVersions(database);
    } catch (e) {
      console.error(`tritgate serve: cannot read the model registry: ${(e as Error).message}`);
      await release().catch(() => undefined);
      return 1;
    }
    const givenToken = process.env.TRITGATE_ADMIN_TOKEN || config.server.adminToken;
    if (givenToken !== undefined && givenToken.length < 16) {
      console.error("tritgate serve: TRITGATE_ADMIN_TOKEN must be at least 16 characters (it must be hard to guess)");
      await release().catch(() => undefined);
      return 1;
    }
    const { directory } = tenancy;
    // one CPU budget, `threads` cores (default: the physical cores), for every worker of this process (the canaries' too)
    const cpuTurns = config.cpuTurns ? createCpuTurns({ cores: cpuBudget(config) }) : undefined;
    const variants = servedVariants(config, registry, log, cpuTurns);
    const observability = operationsAddress(config.server);
    const embedder = await cacheEmbedder(config, log);
    const {
      app,
      gateway,
      observability: operations,
    } = createGateway({
      directory,
      tenancy: tenancy.admin,
      limiter,
      variants,
      recorder: recordingWithRecent(recording),
      reports: createReports(recording.database),
      adminToken: givenToken || { sha256: () => directory.adminTokenHash() },
      bodyLimitBytes: config.server.bodyLimitBytes,
      observability: { separate: observability !== null, token: config.server.observability?.token },
      responseCache: { maxBytes: config.responseCache.maxBytes, ...(embedder ? { embedder } : {}) },
      registry: {
        database,
        policy: config.canary,
        // a canary serves its rollout window and is judged on it: it stays loaded (no idleUnloadMs)
        startWorker: (name, path) => startVariantInstances(workerOptions(config, name, path, cpuTurns)),
        canaries: registry.flatMap((r) => (r.canary ? [r.canary] : [])),
      },
    });
    // from here on a registry change made by any gateway on this database is served here within a poll
    await gateway.versions.follow();
    const shutDown = async () => {
      await gateway.versions.close();
      await Promise.all(variants.map((v) => startedWorker(v).close()));
      await release();
    };
    // listening for SIGTERM before the "serving" line: a stop sent as soon as it appears is a clean stop
    const stopped = new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    const servers = await listenAll([
      { app, at: address, change: "--port or PORT", drainTimeoutMs: config.server.drainTimeoutMs },
      ...(observability && operations
        ? [{ app: operations, at: observability, change: `server.observability.port in ${config.source}` }]
        : []),
    ]);
    if (typeof servers === "string") {
      console.error(`tritgate serve: ${servers}`);
      await shutDown().catch(() => undefined);
      return 1;
    }
    const [server, operationsServer] = servers as [RunningServer, RunningServer | undefined];
    // `tritgate keys` / `variants` reach /admin where it is served (the operations listener when there is
    // one) instead of opening a database this process holds or loading a canary it would not see
    markRunning(stateDir, (operationsServer ?? server).url);
    log(`serving ${server.url}/v1 (config: ${config.source}, state: ${stateDir})`);
    if (operationsServer) log(`serving /metrics, /ui, /dashboards and /admin on ${operationsServer.url}`);
    // made only now that the gateway serves: a start that failed before this leaves no secret unseen
    let adminToken: string | undefined;
    let demo: Awaited<ReturnType<typeof ensureDemoKey>>;
    try {
      adminToken = givenToken ? undefined : await ensureAdminToken(database);
      demo = await ensureDemoKey(database, config.demoTenant);
      if (adminToken || demo) await directory.reload();
    } catch (e) {
      log(`could not create the first admin token or demo key (the next start tries again): ${(e as Error).message}`);
    }
    if (adminToken)
      log(`admin token for ${(operationsServer ?? server).url}/admin (shown once, stored hashed): ${adminToken}`);
    if (demo) log(`demo key for tenant ${demo.tenantId} (shown once, stored hashed): ${demo.key}`);
    const loaded = variants.map((v) => {
      const worker = startedWorker(v);
      return worker.ready.then(
        (info) => {
          log(`variant ${v.config.name} ready (${info.kind})`);
          return true;
        },
        () => {
          log(`variant ${v.config.name} NOT ready: ${worker.error ?? "failed to load"} — see /health/ready`);
          return false;
        },
      );
    });
    void Promise.all(loaded).then((ok) => {
      if (ok.some(Boolean)) return;
      log(
        "no model variant could be loaded, so requests get 503 until one can: serve your own BitNet .gguf and " +
          "ONNX models with --config FILE (the embedded config expects the nano family under models/nano/)",
      );
    });

    await stopped;
    log("shutting down");
    await Promise.all(servers.map((s) => s.close()));
    await shutDown();
    return 0;
  },
};

/** The database recorder, plus the in-memory ring of the latest rows that `GET /admin/decisions` reads. */
function recordingWithRecent(recording: Recording): DecisionRecorder &
  Pick<MemoryRecorder, "latest"> & {
    stats: Recording["recorder"]["stats"];
  } {
  const recent = new MemoryRecorder(1000);
  return {
    enqueue(request, decision) {
      recent.enqueue(request, decision);
      recording.recorder.enqueue(request, decision);
    },
    latest: (limit) => recent.latest(limit),
    stats: () => recording.recorder.stats(),
  };
}

function modelBytes(path: string): { modelBytes?: number } {
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat ? { modelBytes: stat.size } : {};
}

/** The pool handle behind a served variant (serve always passes real workers). */
function startedWorker(v: ServedVariant) {
  return v.worker as ReturnType<typeof startVariantInstances>;
}
