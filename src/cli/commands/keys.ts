/**
 * `tritgate keys create --tenant ID | list [--tenant ID] | revoke KEY_ID` — API keys of the tenants in
 * the gateway config. A created key is printed once; only its SHA-256 hash is stored (`<stateDir>/keys.json`).
 * A running gateway picks up created and revoked keys within a second.
 */
import { loadConfig, resolveStateDir } from "../../config/index.js";
import { createTenantDirectory } from "../../tenants/directory.js";
import { openKeyStore } from "../../tenants/store.js";
import type { ApiKeyRecord } from "../../tenants/types.js";
import { type Command, parseCommandLine } from "../command.js";

const USAGE = `usage: tritgate keys <create|list|revoke> [options]
  create --tenant ID     create a key for a tenant; the key is printed once and never stored
  list [--tenant ID]     list keys: id, prefix, tenant, created, revoked
  revoke KEY_ID          revoke a key (requests with it get 401 from then on)
options:
  --config FILE          gateway config (default: $TRITGATE_CONFIG, ./tritgate.yaml, else the built-in defaults)
  --state-dir DIR        where keys.json lives (default: $TRITGATE_STATE_DIR, else the config's server.stateDir)
  --json                 machine-readable output`;

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
  const cells = rows.map((r) => headers.map((h) => r[h] ?? "-"));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join("\n");
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

    try {
      const config = loadConfig(values.config as string | undefined);
      const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
      const store = openKeyStore(stateDir);
      const directory = createTenantDirectory(config, { store, refreshMs: 0 });
      const knownTenants = () =>
        directory
          .tenants()
          .map((t) => t.id)
          .join(", ") || "none";

      if (action === "create") {
        if (rest.length > 0) return fail(`unexpected argument "${rest[0]}"\n\n${USAGE}`, 2);
        if (tenantId === undefined) return fail(`create needs --tenant ID (tenants: ${knownTenants()})`, 2);
        if (!directory.tenant(tenantId)) return fail(`unknown tenant "${tenantId}" (tenants: ${knownTenants()})`);
        const { key, record } = directory.createKey(tenantId);
        if (json) console.log(JSON.stringify({ key, ...row(record) }));
        else {
          console.log(key);
          console.error(
            `created ${record.id} for tenant ${tenantId}. This is the only time the key is shown; ` +
              `its hash is stored in ${store.path}.`,
          );
        }
        return 0;
      }

      if (action === "list") {
        if (rest.length > 0) return fail(`unexpected argument "${rest[0]}"\n\n${USAGE}`, 2);
        if (tenantId !== undefined && !directory.tenant(tenantId))
          return fail(`unknown tenant "${tenantId}" (tenants: ${knownTenants()})`);
        const rows = [...directory.keys(tenantId)]
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
      const before = directory.keys().find((r) => r.id === keyId);
      if (!before || !directory.revokeKey(keyId)) return fail(`unknown key "${keyId}"`);
      console.log(before.revokedAt ? `${keyId} was already revoked` : `revoked ${keyId} (${before.prefix}…)`);
      return 0;
    } catch (e) {
      return fail((e as Error).message);
    }
  },
};
