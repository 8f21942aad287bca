/**
 * A gateway of our own for the runner when no `--url` is given: the real `tritgate serve` (from the
 * sources, in a child process) on a free loopback port, with a fresh state dir, the given config's
 * tiers and variants (the embedded config's nano models by default), and one tenant per tier whose key
 * exists only in this process (the config holds its hash). The child records to PGlite in the state
 * dir, or to the PostgreSQL database `databaseUrl` names, and limits in memory: this process's
 * `DATABASE_URL` and `REDIS_URL` are not passed on.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { GatewayConfig } from "../src/config/schema.js";
import { createKeyRecord } from "../src/tenants/keys.js";

const ROOT = resolve(import.meta.dirname, "..");
// generous: on a loaded machine PGlite alone has taken 40 s to open
const START_TIMEOUT_MS = 180_000;

export interface OwnGateway {
  readonly url: string;
  readonly keyFor: (tier: string) => string;
  /** what the gateway printed (for a failure's report) */
  readonly output: () => string;
  /** SIGTERM, then the exit code; removes the state dir */
  stop(): Promise<number | null>;
}

/** The config file the child serves: `config` as loaded, plus a `loadtest-<tier>` tenant per tier. */
export function loadtestConfig(config: GatewayConfig, stateDir: string): { file: object; keys: Map<string, string> } {
  const keys = new Map<string, string>();
  const tenants = config.tiers.map((tier) => {
    const id = `loadtest-${tier.name}`;
    const { key, record } = createKeyRecord(id);
    keys.set(tier.name, key);
    return {
      id,
      name: `load test, tier ${tier.name}`,
      tier: tier.name,
      keys: [{ id: record.id, hash: record.hash, prefix: record.prefix, createdAt: record.createdAt.toISOString() }],
    };
  });
  const { source: _source, demoTenant: _demo, ...rest } = config;
  const file = {
    ...rest,
    server: { ...config.server, host: "127.0.0.1", port: 0, stateDir },
    tenants: [...config.tenants, ...tenants],
    // the embedded config's paths are relative to the repository, a file's are already absolute
    variants: config.variants.map((v) => ({ ...v, path: isAbsolute(v.path) ? v.path : resolve(ROOT, v.path) })),
  };
  return { file, keys };
}

export interface OwnGatewayOptions {
  /** record into this PostgreSQL database instead of PGlite in the state dir (PGlite's start-up is the
   * slow part of the gateway's on a loaded machine: tens of seconds, against a few for PostgreSQL) */
  readonly databaseUrl?: string;
  readonly log: (line: string) => void;
}

export async function startOwnGateway(config: GatewayConfig, options: OwnGatewayOptions): Promise<OwnGateway> {
  const { log } = options;
  const dir = mkdtempSync(join(tmpdir(), "tg-loadtest-"));
  const stateDir = join(dir, "state");
  const { file, keys } = loadtestConfig(config, stateDir);
  const configFile = join(dir, "tritgate.json");
  writeFileSync(configFile, JSON.stringify(file, null, 2));
  // the flags as well as the file: HOST and PORT in the environment win over a config file's address
  const args = ["serve", "--config", configFile, "--host", "127.0.0.1", "--port", "0", "--state-dir", stateDir];
  const script = `import("./src/cli/main.ts").then(async (m) => process.exit(await m.run(${JSON.stringify(args)})))`;
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "REDIS_URL", "TRITGATE_CONFIG", "TRITGATE_STATE_DIR"]) delete env[name];
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  const started = new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${output}`)), START_TIMEOUT_MS);
    const variants = config.variants.length;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const served = /serving (http:\/\/\S+)\/v1/.exec(output)?.[1];
      const settled = (output.match(/variant \S+ (NOT )?ready/g) ?? []).length;
      if (served && settled >= variants) {
        clearTimeout(timer);
        resolveUrl(served);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code} before it was ready:\n${output}`));
    });
  });
  let url: string;
  try {
    url = await started;
  } catch (e) {
    // a gateway that never got ready must not outlive the run (nor keep this process alive)
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  if (/NOT ready/.test(output)) log(`warning: a variant did not load:\n${output}`);
  log(`gateway: ${url} (state ${stateDir})`);
  return {
    url,
    keyFor: (tier) => {
      const key = keys.get(tier);
      if (!key) throw new Error(`no tenant of tier ${tier} in the gateway's config`);
      return key;
    },
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
