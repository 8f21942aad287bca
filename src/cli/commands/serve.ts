import { statSync } from "node:fs";
/**
 * `tritgate serve [--config FILE] [--host H] [--port P]`: the gateway. Loads the config (the
 * embedded default when none is given), starts one worker per variant (a missing model file is
 * reported as not ready, never fatal), prints the demo key once, and serves until SIGTERM/SIGINT.
 */
import { type MeasuredCard, readModelCard, resolveVariantFigures } from "../../config/card.js";
import { ensureDemoKey, type GatewayConfig, loadConfig, resolveStateDir, variantCost } from "../../config/index.js";
import { createReports, type Recording, startRecording } from "../../db/index.js";
import { startVariantWorker } from "../../engines/pool/index.js";
import { createGateway, type ServedVariant, startServer } from "../../server/index.js";
import { type DecisionRecorder, MemoryRecorder } from "../../server/recorder.js";
import { createRateLimiter, createTenantDirectory, openKeyStore } from "../../tenants/index.js";
import { type Command, parseCommandLine } from "../command.js";

const USAGE = `usage: tritgate serve [--config FILE] [--host HOST] [--port PORT] [--state-dir DIR]
  --config FILE     gateway config (YAML or JSON); default: the embedded config (three tiers, a demo tenant,
                    the nano model family)
  REDIS_URL         share rate-limit counters between replicas through Redis
  DATABASE_URL      record requests and decisions in this PostgreSQL; default: embedded PGlite in the state dir`;

/** Quality is measured by `tritgate eval`; until a variant has been measured the router gets a
 * stated assumption instead of a silent one. */
const UNMEASURED_QUALITY = 0.5;

function servedVariants(config: GatewayConfig, log: (line: string) => void): ServedVariant[] {
  const references = new Set(config.families.map((f) => f.reference));
  return config.variants.map((v) => {
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
        modelBytes: statSync(v.path).size,
      },
      worker: startVariantWorker({ name: v.name, path: v.path, threads: config.threads, slots: v.slots }),
    };
  });
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
    const log = (line: string) => console.log(`[tritgate] ${line}`);
    const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
    const demo = ensureDemoKey(config, stateDir);
    const directory = createTenantDirectory(config, { store: openKeyStore(stateDir) });
    const limiter = createRateLimiter({ redisUrl: process.env.REDIS_URL });
    let recording: Recording;
    try {
      recording = await startRecording({ url: process.env.DATABASE_URL, stateDir });
    } catch (e) {
      console.error(`tritgate serve: cannot open the database: ${(e as Error).message}`);
      await limiter.close();
      return 1;
    }
    log(`recording to ${recording.database.driver === "pglite" ? "PGlite in the state dir" : "PostgreSQL"}`);
    const variants = servedVariants(config, log);
    const { app } = createGateway({
      directory,
      limiter,
      variants,
      recorder: recordingWithRecent(recording),
      reports: createReports(recording.database),
      adminToken: config.server.adminToken,
      bodyLimitBytes: config.server.bodyLimitBytes,
    });
    const port = values.port === undefined ? config.server.port : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`tritgate serve: --port must be an integer 0..65535`);
      return 2;
    }
    const server = await startServer(app, { host: (values.host as string | undefined) ?? config.server.host, port });
    log(`serving ${server.url}/v1 (config: ${config.source}, state: ${stateDir})`);
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

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    log("shutting down");
    await server.close();
    await Promise.all(variants.map((v) => startedWorker(v).close()));
    // drains every queued row into the database (or its journal) before the process ends
    await recording.close();
    await limiter.close();
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

/** The pool handle behind a served variant (serve always passes real workers). */
function startedWorker(v: ServedVariant) {
  return v.worker as ReturnType<typeof startVariantWorker>;
}
