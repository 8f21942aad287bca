/**
 * `tritgate variants list | register NAME --path FILE | canary NAME --weight W | promote NAME |
 * rollback NAME | transitions [NAME]` — the model registry and canary rollouts.
 *
 * PGlite is one process's database, so while a gateway serves from the state directory (it says so
 * in `<stateDir>/gateway.json`), or when `--url` names one, the command drives that gateway's admin
 * API (`/admin/variants…`, token from `TRITGATE_ADMIN_TOKEN`) and the change takes effect at once.
 * With no gateway running it opens the database itself (PGlite in the state directory, or
 * `DATABASE_URL`), and the next `tritgate serve` loads what it finds there.
 */
import { resolve } from "node:path";
import { loadConfig, resolveStateDir } from "../../config/index.js";
import { checkModelFile, engineOfFile, ModelFileError } from "../../db/model-file.js";
import { type Database, openDatabase } from "../../db/open.js";
import {
  listTransitions,
  listVersions,
  promoteCanary,
  RegistryError,
  registerVersion,
  rollBackCanary,
  setCanaryWeight,
} from "../../db/registry.js";
import { type Command, parseCommandLine, positiveIntOption } from "../command.js";
import { seedFromConfig } from "../registry.js";
import { runningGateway } from "../running-gateway.js";
import { textTable } from "../text-table.js";

const USAGE = `usage: tritgate variants <action> [options]
  list                                  every registered version: status, canary weight, file
  register NAME --path FILE [--sha256 HEX] [--version V]
                                        a new version of variant NAME, as its canary with weight 0
                                        (the file's sha256 is computed, and checked against --sha256)
  canary NAME --weight W                the share (0..1) of NAME's requests its canary gets
  promote NAME                          the canary becomes the active version; the old one is retired
  rollback NAME                         the canary is retired; the active version serves everything
  transitions [NAME] [--limit N]        the latest registry transitions, with their reasons
options:
  --reason TEXT     recorded with the transition
  --url URL         drive the gateway at URL (its admin API); default: the gateway running from the state
                    dir, if any, else the database directly (PGlite in the state dir, or DATABASE_URL)
  --config FILE     gateway config (default: $TRITGATE_CONFIG, ./tritgate.yaml, else the built-in defaults)
  --state-dir DIR   default: $TRITGATE_STATE_DIR, else the config's server.stateDir
  --json            machine-readable output
  TRITGATE_ADMIN_TOKEN   the gateway's admin token (needed when a gateway is driven)`;

type Action = "list" | "register" | "canary" | "promote" | "rollback" | "transitions";
const ACTIONS: readonly Action[] = ["list", "register", "canary", "promote", "rollback", "transitions"];

interface Options {
  readonly name: string | undefined;
  readonly path?: string | undefined;
  readonly sha256?: string | undefined;
  readonly version?: string | undefined;
  readonly weight?: number | undefined;
  readonly reason?: string | undefined;
  readonly limit: number;
}

/** One way to reach the registry: a running gateway's admin API, or the database. */
interface Registry {
  readonly where: string;
  run(action: Action, o: Options): Promise<unknown>;
  close(): Promise<void>;
}

class UsageError extends Error {}

function fail(message: string, code = 1): number {
  console.error(`tritgate variants: ${message}`);
  return code;
}

export const variantsCommand: Command = {
  name: "variants",
  summary: "list the model registry, register versions, run canaries, promote and roll back",
  async run(args) {
    const cli = parseCommandLine(
      "variants",
      USAGE,
      args,
      {
        path: { type: "string" },
        sha256: { type: "string" },
        version: { type: "string" },
        weight: { type: "string" },
        reason: { type: "string" },
        limit: { type: "string" },
        url: { type: "string" },
        config: { type: "string" },
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      true,
    );
    if (typeof cli === "number") return cli;
    const { values, positionals } = cli;
    const [action, name, ...extra] = positionals;
    if (!ACTIONS.includes(action as Action)) {
      return fail(`${action === undefined ? "missing action" : `unknown action "${action}"`}\n\n${USAGE}`, 2);
    }
    let options: Options;
    try {
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
      options = optionsFor(action as Action, name, values);
    } catch (e) {
      return fail(`${(e as Error).message}\n\n${USAGE}`, 2);
    }

    let registry: Registry;
    try {
      registry = await openRegistry(values);
    } catch (e) {
      return fail((e as Error).message);
    }
    try {
      const result = await registry.run(action as Action, options);
      if (values.json === true) console.log(JSON.stringify(result, null, 2));
      else console.log(describe(action as Action, result, registry.where));
      return 0;
    } catch (e) {
      if (e instanceof RegistryError || e instanceof ModelFileError || e instanceof RangeError) return fail(e.message);
      return fail((e as Error).message);
    } finally {
      await registry.close();
    }
  },
};

function optionsFor(action: Action, name: string | undefined, values: Record<string, unknown>): Options {
  const needsName = action !== "list" && action !== "transitions";
  if (needsName && (name === undefined || name === "")) throw new UsageError(`${action} needs a variant NAME`);
  if (action === "list" && name !== undefined) throw new UsageError(`list takes no NAME`);
  const str = (k: string) => values[k] as string | undefined;
  const limit = positiveIntOption(values.limit, "limit") ?? 20;
  if (action === "register") {
    const path = str("path");
    if (path === undefined) throw new UsageError("register needs --path FILE");
    // the gateway may run from another directory: it gets the path this shell means
    return { name, path: resolve(path), sha256: str("sha256"), version: str("version"), reason: str("reason"), limit };
  }
  if (action === "canary") {
    const raw = str("weight");
    const weight = Number(raw);
    if (raw === undefined || raw === "" || !(weight >= 0 && weight <= 1)) {
      throw new UsageError("canary needs --weight W, a share between 0 and 1 (e.g. 0.1 for 10%)");
    }
    return { name, weight, reason: str("reason"), limit };
  }
  return { name, reason: str("reason"), limit };
}

async function openRegistry(values: Record<string, unknown>): Promise<Registry> {
  const explicit = values.url as string | undefined;
  const config = loadConfig(values.config as string | undefined);
  const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
  const running = explicit === undefined ? runningGateway(stateDir) : undefined;
  const url = explicit ?? running?.url;
  if (url !== undefined) {
    const token = process.env.TRITGATE_ADMIN_TOKEN;
    if (token === undefined || token === "") {
      throw new Error(
        running
          ? `a gateway (pid ${running.pid}) is serving from ${stateDir} at ${url} and holds its database: set TRITGATE_ADMIN_TOKEN to its admin token and try again`
          : `--url needs TRITGATE_ADMIN_TOKEN set to the gateway's admin token`,
      );
    }
    return apiRegistry(url.replace(/\/+$/, ""), token);
  }
  const database = await openDatabase({ stateDir });
  try {
    // what serve would seed at its start, so the config's variants can be listed and given versions before it
    await seedFromConfig(database, config, (line) => console.error(`tritgate variants: ${line}`));
  } catch (e) {
    await database.close();
    throw e;
  }
  return databaseRegistry(database, database.driver === "pglite" ? `PGlite in ${stateDir}` : "PostgreSQL");
}

function apiRegistry(base: string, token: string): Registry {
  const call = async (method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${base}/admin/variants${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`cannot reach the gateway at ${base}: ${(e as Error).message}`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const message = (json as { error?: { message?: string } } | undefined)?.error?.message ?? text;
      throw new Error(`the gateway answered ${response.status}: ${message}`);
    }
    return json;
  };
  const name = (o: Options) => encodeURIComponent(o.name ?? "");
  const data = (r: unknown) => (r as { data: unknown }).data;
  return {
    where: `the gateway at ${base}`,
    async run(action, o) {
      switch (action) {
        case "list":
          return data(await call("GET", ""));
        case "transitions": {
          const query = new URLSearchParams({ limit: String(o.limit), ...(o.name ? { variant: o.name } : {}) });
          return data(await call("GET", `/transitions?${query}`));
        }
        case "register":
          return call("POST", `/${name(o)}/versions`, { path: o.path, sha256: o.sha256, version: o.version });
        case "canary":
          return call("POST", `/${name(o)}/canary`, { weight: o.weight, reason: o.reason });
        case "promote":
          return call("POST", `/${name(o)}/promote`, { reason: o.reason });
        case "rollback":
          return call("POST", `/${name(o)}/rollback`, { reason: o.reason });
      }
    },
    async close() {},
  };
}

function databaseRegistry(database: Database, where: string): Registry {
  const by = (o: Options, fallback: string) => ({ automatic: false, reason: o.reason ?? fallback });
  return {
    where,
    async run(action, o) {
      const name = o.name ?? "";
      switch (action) {
        case "list":
          return listVersions(database);
        case "transitions":
          return listTransitions(database, { variant: o.name, limit: o.limit });
        case "register": {
          const path = o.path ?? "";
          const engine = engineOfFile(path);
          const fileSha256 = await checkModelFile(path, o.sha256);
          return registerVersion(
            database,
            { name, version: o.version, path, fileSha256, engine },
            by(o, "registered by an operator"),
          );
        }
        case "canary":
          return setCanaryWeight(database, name, o.weight ?? 0, by(o, "set by an operator"));
        case "promote":
          return (await promoteCanary(database, name, by(o, "promoted by an operator"))).promoted;
        case "rollback":
          return rollBackCanary(database, name, by(o, "rolled back by an operator"));
      }
    },
    close: () => database.close(),
  };
}

interface RowLike {
  readonly name?: string;
  readonly version?: string;
  readonly status?: string;
  readonly canaryWeight?: number;
  readonly engine?: string;
  readonly fileSha256?: string;
  readonly path?: string;
  readonly live?: {
    readonly worker: string;
    readonly window: { successRate: number; p95Ms: number | null; requests: number };
  } | null;
  readonly loaded?: boolean;
}

interface TransitionLike {
  readonly createdAt: string;
  readonly variant: string;
  readonly kind: string;
  readonly version: string;
  readonly automatic: boolean;
  readonly canaryWeight: number;
  readonly reason: string;
}

function describe(action: Action, result: unknown, where: string): string {
  if (action === "list") {
    const rows = result as readonly RowLike[];
    const headers = ["name", "version", "status", "weight", "engine", "sha256", "live", "path"];
    const cells = rows.map((r) => [
      r.name ?? "",
      r.version ?? "",
      r.status ?? "",
      r.status === "canary" ? String(r.canaryWeight ?? 0) : "-",
      r.engine ?? "",
      (r.fileSha256 ?? "").slice(0, 12),
      r.live
        ? `${r.live.worker}, ${r.live.window.requests} req, ${(r.live.window.successRate * 100).toFixed(1)}% ok, p95 ${r.live.window.p95Ms === null ? "-" : `${r.live.window.p95Ms.toFixed(1)} ms`}`
        : "-",
      r.path ?? "",
    ]);
    return `${textTable(headers, cells)}\n(${where})`;
  }
  if (action === "transitions") {
    const rows = result as readonly TransitionLike[];
    const headers = ["at", "variant", "kind", "version", "by", "weight", "reason"];
    const cells = rows.map((t) => [
      t.createdAt,
      t.variant,
      t.kind,
      t.version,
      t.automatic ? "controller" : "operator",
      String(t.canaryWeight),
      t.reason,
    ]);
    return textTable(headers, cells);
  }
  const r = result as RowLike;
  const what = `${r.name}@${r.version}: ${r.status}${r.status === "canary" ? `, weight ${r.canaryWeight}` : ""}`;
  const load = r.loaded === false ? " — it did NOT load and was rolled back (see `tritgate variants transitions`)" : "";
  return `${what}${load} (${where})`;
}
