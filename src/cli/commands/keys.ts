/**
 * `tritgate keys create --tenant ID | list [--tenant ID] | revoke KEY_ID` — tenants' API keys, in the
 * database the gateway uses (Postgres at `DATABASE_URL`, else PGlite in the state directory). A created
 * key is printed once; only its SHA-256 hash is stored. A running gateway picks up created and revoked
 * keys within a second. PGlite is one process's database: while a gateway serves from the same state
 * directory this command does not open it, and goes through that gateway's admin API instead when
 * `TRITGATE_ADMIN_TOKEN` is set (else it says what to do).
 */
import { loadConfig, resolveStateDir } from "../../config/index.js";
import type { ApiKeyRecord } from "../../tenants/types.js";
import { adminApiClient, type KeyAdmin } from "../admin-client.js";
import { type Command, parseCommandLine } from "../command.js";
import { runningGateway } from "../running-gateway.js";
import { textTable } from "../text-table.js";

const USAGE = `usage: tritgate keys <create|list|revoke> [options]
  create --tenant ID     create a key for a tenant; the key is printed once and never stored
  list [--tenant ID]     list keys: id, prefix, tenant, created, revoked
  revoke KEY_ID          revoke a key (requests with it get 401 within a second)
options:
  --config FILE          gateway config (default: $TRITGATE_CONFIG, ./tritgate.yaml, else the built-in defaults);
                         its tenants seed a database that has none yet
  --state-dir DIR        where the embedded PGlite lives (default: $TRITGATE_STATE_DIR, else the config's server.stateDir)
  --json                 machine-readable output
environment:
  DATABASE_URL           the gateway's PostgreSQL (written directly, also while gateways run)
  TRITGATE_ADMIN_TOKEN   with PGlite and a gateway serving from the state dir: go through its admin API`;

function fail(message: string, code = 1): number {
  console.error(`tritgate keys: ${message}`);
  return code;
}

function row(r: ApiKeyRecord): Record<string, string | null> {
  return {
    id: r.id,
    prefix: r.prefix,
    tenant: r.tenantId,
    created: r.createdAt.toISOString(),
    revoked: r.revokedAt ? r.revokedAt.toISOString() : null,
  };
}

function table(rows: readonly Record<string, string | null>[]): string {
  const headers = ["id", "prefix", "tenant", "created", "revoked"];
  return textTable(
    headers,
    rows.map((r) => headers.map((h) => r[h] ?? "-")),
  );
}

export const keysCommand: Command = {
  name: "keys",
  summary: "create, list and revoke tenants' API keys (a key is shown once; only its hash is stored)",
  async run(args) {
    const cli = parseCommandLine(
      "keys",
      USAGE,
      args,
      {
        tenant: { type: "string" },
        config: { type: "string" },
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      true,
    );
    if (typeof cli === "number") return cli;
    const { values, positionals } = cli;
    const [action, ...rest] = positionals;
    if (action === "help") {
      console.log(USAGE);
      return 0;
    }
    if (action !== "create" && action !== "list" && action !== "revoke")
      return fail(`${action === undefined ? "missing action" : `unknown action "${action}"`}\n\n${USAGE}`, 2);
    const tenantId = values.tenant as string | undefined;
    const json = values.json === true;

    let session: { admin: KeyAdmin; where: string; close: () => Promise<void> } | undefined;
    try {
      const config = loadConfig(values.config as string | undefined);
      const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
      const url = process.env.DATABASE_URL;
      // the database layer loads its drivers only here, not for every command
      const { driverFor, openDatabase, openTenancy } = await import("../../db/index.js");
      const running = driverFor(url) === "pglite" ? runningGateway(stateDir) : undefined;
      if (running) {
        const token = process.env.TRITGATE_ADMIN_TOKEN;
        if (!token || !running.url)
          return fail(
            `a gateway (pid ${running.pid}${running.url ? `, ${running.url}` : ""}) is serving from ${stateDir}, and its ` +
              "embedded database (PGlite) is one process's: this command will not open it. Set TRITGATE_ADMIN_TOKEN " +
              "to the gateway's admin token and run this again (it then goes through the gateway's admin API), use " +
              "the admin API yourself (POST /admin/tenants/ID/keys, GET /admin/keys, DELETE /admin/keys/KEY_ID), or " +
              "stop the gateway first.",
          );
        session = {
          admin: adminApiClient(running.url, token),
          where: `the database of the gateway at ${running.url}`,
          close: async () => undefined,
        };
      } else {
        const database = await openDatabase({ url, stateDir });
        try {
          const tenancy = await openTenancy({ database, config, stateDir, refreshMs: 3_600_000 });
          session = {
            admin: tenancy.admin,
            where: database.driver === "pglite" ? `PGlite in ${stateDir}` : "PostgreSQL (DATABASE_URL)",
            close: async () => {
              tenancy.close();
              await database.close();
            },
          };
        } catch (e) {
          await database.close();
          throw e;
        }
      }
      const { admin } = session;
      const tenants = await admin.listTenants();
      const knownTenants = () => tenants.map((t) => t.id).join(", ") || "none";
      const known = (id: string) => tenants.some((t) => t.id === id);

      if (action === "create") {
        if (rest.length > 0) return fail(`unexpected argument "${rest[0]}"\n\n${USAGE}`, 2);
        if (tenantId === undefined) return fail(`create needs --tenant ID (tenants: ${knownTenants()})`, 2);
        const made = known(tenantId) ? await admin.createKey(tenantId) : undefined;
        if (!made) return fail(`unknown tenant "${tenantId}" (tenants: ${knownTenants()})`);
        const { key, record } = made;
        if (json) console.log(JSON.stringify({ key, ...row(record) }));
        else {
          console.log(key);
          console.error(
            `created ${record.id} for tenant ${tenantId}. This is the only time the key is shown; ` +
              `its hash is stored in ${session.where}.`,
          );
        }
        return 0;
      }

      if (action === "list") {
        if (rest.length > 0) return fail(`unexpected argument "${rest[0]}"\n\n${USAGE}`, 2);
        if (tenantId !== undefined && !known(tenantId))
          return fail(`unknown tenant "${tenantId}" (tenants: ${knownTenants()})`);
        const rows = [...(await admin.listKeys(tenantId))]
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
          .map(row);
        if (json) console.log(JSON.stringify(rows));
        else if (rows.length === 0) console.log("no keys");
        else console.log(table(rows));
        return 0;
      }

      const [keyId, ...extra] = rest;
      if (keyId === undefined) return fail(`revoke needs a KEY_ID (see \`tritgate keys list\`)`, 2);
      if (extra.length > 0) return fail(`unexpected argument "${extra[0]}"\n\n${USAGE}`, 2);
      const before = (await admin.listKeys()).find((r) => r.id === keyId);
      const done = await admin.revokeKey(keyId);
      if (!before || done === "not_found") return fail(`unknown key "${keyId}"`);
      console.log(done === "already_revoked" ? `${keyId} was already revoked` : `revoked ${keyId} (${before.prefix}…)`);
      return 0;
    } catch (e) {
      return fail((e as Error).message);
    } finally {
      await session?.close().catch(() => undefined);
    }
  },
};
