/**
 * `tritgate keys` against the database: PGlite in the state directory (and, while a gateway serves from
 * it, through that gateway's admin API) and Postgres at DATABASE_URL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG_YAML } from "../../config/defaults.js";
import { loadConfig } from "../../config/load.js";
import { type Database, openDatabase, openTenancy } from "../../db/index.js";
import { everyTextValue, testDatabase } from "../../db/testkit.js";
import { createGateway } from "../../server/app.js";
import { createLogger } from "../../server/log.js";
import { startServer } from "../../server/serve.js";
import { createMemoryRateLimiter } from "../../tenants/index.js";
import { RUNNING_FILE } from "../running-gateway.js";
import { keysCommand } from "./keys.js";
import { runCaptured } from "./testkit.js";

/** Whether `key` authenticates (and as whom) against the database the CLI wrote. */
async function whoseKey(config: string, state: string, key: string, url = ""): Promise<string | undefined> {
  const database = await openDatabase({ url, stateDir: state });
  try {
    const t = await openTenancy({ database, config: loadConfig(config, {}) });
    t.close();
    return t.directory.authenticate(key)?.tenant.id;
  } finally {
    await database.close();
  }
}

const cli = (args: string[]) => runCaptured(keysCommand, args);

function setup(): { state: string; config: string; base: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "tg-keys-"));
  const config = join(dir, "tritgate.yaml");
  writeFileSync(
    config,
    `${DEFAULT_CONFIG_YAML}  - id: acme\n    name: Acme\n    tier: premium\n`.replace("demoTenant: demo\n", "") +
      "demoTenant: demo\n",
  );
  const state = join(dir, "state");
  return { state, config, base: ["--config", config, "--state-dir", state] };
}

describe("tritgate keys", () => {
  afterEach(() => vi.restoreAllMocks());

  it("create prints a key once and stores only its hash", async () => {
    const { state, config, base } = setup();
    const { code, out, err } = await cli(["create", "--tenant", "acme", ...base]);
    expect(code).toBe(0);
    const key = out.trim();
    expect(key).toMatch(/^tg-[A-Za-z0-9_-]{32}$/);
    expect(err).toMatch(/created key_[0-9a-f]{16} for tenant acme\. This is the only time the key is shown/);
    expect(err).toContain(`PGlite in ${state}`);
    expect(await whoseKey(config, state, key)).toBe("acme");
    const database = await openDatabase({ url: "", stateDir: state });
    try {
      expect(await everyTextValue(database)).not.toContain(key.slice(9));
    } finally {
      await database.close();
    }
  });

  it("list shows prefixes, tenants, creation and revocation; revoke disables the key", async () => {
    const { state, config, base } = setup();
    const a = (await cli(["create", "--tenant", "acme", ...base])).out.trim();
    const b = JSON.parse((await cli(["create", "--tenant", "demo", "--json", ...base])).out) as Record<string, string>;
    expect(b.key).toMatch(/^tg-/);
    expect(b.tenant).toBe("demo");

    const listed = await cli(["list", ...base]);
    expect(listed.code).toBe(0);
    const lines = listed.out.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+PREFIX\s+TENANT\s+CREATED\s+REVOKED$/);
    expect(lines).toHaveLength(3);
    expect(listed.out).toContain(a.slice(0, 9));
    expect(listed.out).not.toContain(a.slice(0, 10));
    expect(listed.out).not.toContain(b.key?.slice(9) ?? "?");

    const revoked = await cli(["revoke", b.id ?? "", ...base]);
    expect(revoked).toMatchObject({ code: 0, out: `revoked ${b.id} (${b.prefix}…)\n` });
    const rows = JSON.parse((await cli(["list", "--json", ...base])).out) as Record<string, string | null>[];
    expect(rows.find((r) => r.id === b.id)?.revoked).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(rows.find((r) => r.tenant === "acme")?.revoked).toBeNull();
    const onlyAcme = JSON.parse((await cli(["list", "--tenant", "acme", "--json", ...base])).out) as unknown[];
    expect(onlyAcme).toHaveLength(1);

    expect(await whoseKey(config, state, b.key ?? "")).toBeUndefined();
    expect(await whoseKey(config, state, a)).toBe("acme");
    expect((await cli(["revoke", b.id ?? "", ...base])).out).toContain("already revoked");
  });

  it("fails clearly on unknown tenants, keys and actions", async () => {
    const { base } = setup();
    expect(await cli(["create", "--tenant", "nobody", ...base])).toMatchObject({ code: 1 });
    expect((await cli(["create", "--tenant", "nobody", ...base])).err).toMatch(
      /unknown tenant "nobody" \(tenants: acme, demo\)/,
    );
    expect((await cli(["create", ...base])).code).toBe(2);
    expect(await cli(["revoke", "key_0000000000000000", ...base])).toMatchObject({ code: 1 });
    expect((await cli(["revoke", ...base])).code).toBe(2);
    expect((await cli(["rotate", ...base])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(["--help"])).out).toContain("usage: tritgate keys");
    expect((await cli(["list", ...base])).out).toBe("no keys\n");
  });

  it("reports config errors with their position", async () => {
    const { config, base } = setup();
    writeFileSync(config, DEFAULT_CONFIG_YAML.replace("onOverload: degrade", "onOverload: sometimes"));
    const r = await cli(["list", ...base]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/tritgate\.yaml:\d+:5: tiers\[1\]\.onOverload: expected one of/);
  });
});

describe("tritgate keys beside a running gateway", () => {
  const children: ChildProcess[] = [];
  const saved = { url: process.env.DATABASE_URL, token: process.env.TRITGATE_ADMIN_TOKEN };
  afterEach(() => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
    if (saved.url === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved.url;
    if (saved.token === undefined) delete process.env.TRITGATE_ADMIN_TOKEN;
    else process.env.TRITGATE_ADMIN_TOKEN = saved.token;
  });
  /** Another live process to stand for the gateway in `gateway.json` (this process's own pid is ignored). */
  function otherProcess(): number {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(child);
    if (child.pid === undefined) throw new Error("could not start sleep");
    return child.pid;
  }

  it("does not open PGlite a gateway serves from, and says what to do", async () => {
    const { state, base } = setup();
    expect((await cli(["list", ...base])).code).toBe(0); // creates the state dir and seeds it
    writeFileSync(join(state, RUNNING_FILE), JSON.stringify({ pid: otherProcess(), url: "http://127.0.0.1:9" }));
    delete process.env.DATABASE_URL;
    delete process.env.TRITGATE_ADMIN_TOKEN;
    const r = await cli(["create", "--tenant", "acme", ...base]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/a gateway \(pid \d+, http:\/\/127\.0\.0\.1:9\) is serving from .*one process's/);
    expect(r.err).toContain("TRITGATE_ADMIN_TOKEN");
    expect(r.err).toContain("POST /admin/tenants/ID/keys");
  });

  it("goes through the gateway's admin API when TRITGATE_ADMIN_TOKEN is set", async () => {
    const { state, config, base } = setup();
    const database: Database = await openDatabase({ url: "", stateDir: state });
    const tenancy = await openTenancy({ database, config: loadConfig(config, {}), refreshMs: 50 });
    const lines: string[] = [];
    const token = "an-admin-token-for-the-cli-test";
    const { app } = createGateway({
      directory: tenancy.directory,
      tenancy: tenancy.admin,
      limiter: createMemoryRateLimiter(),
      variants: [],
      adminToken: token,
      log: createLogger("debug", (l) => lines.push(l)),
    });
    const server = await startServer(app, { host: "127.0.0.1", port: 0 });
    try {
      writeFileSync(join(state, RUNNING_FILE), JSON.stringify({ pid: otherProcess(), url: server.url }));
      delete process.env.DATABASE_URL;
      process.env.TRITGATE_ADMIN_TOKEN = token;
      const made = await cli(["create", "--tenant", "acme", "--json", ...base]);
      expect(made.code).toBe(0);
      const { key, id } = JSON.parse(made.out) as { key: string; id: string };
      expect(tenancy.directory.authenticate(key)?.tenant.id).toBe("acme");
      const models = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      expect(models.status).toBe(200);
      const listed = JSON.parse((await cli(["list", "--json", ...base])).out) as { id: string; revoked: unknown }[];
      expect(listed.map((k) => k.id)).toContain(id);
      expect((await cli(["revoke", id, ...base])).out).toContain(`revoked ${id}`);
      expect((await cli(["revoke", id, ...base])).out).toContain("already revoked");
      expect(tenancy.directory.authenticate(key)).toBeUndefined();
      process.env.TRITGATE_ADMIN_TOKEN = "not-the-token-at-all";
      const refused = await cli(["list", ...base]);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain("refused TRITGATE_ADMIN_TOKEN (401)");
      expect(lines.join("\n")).not.toContain(key);
    } finally {
      await server.close();
      tenancy.close();
      await database.close();
    }
  });

  it("writes Postgres at DATABASE_URL directly, whatever serves from the state directory", async () => {
    const db = await testDatabase("postgres");
    try {
      const { state, config, base } = setup();
      mkdirSync(state, { recursive: true });
      writeFileSync(join(state, RUNNING_FILE), JSON.stringify({ pid: otherProcess() }));
      process.env.DATABASE_URL = db.url;
      const made = await cli(["create", "--tenant", "acme", ...base]);
      expect(made.code).toBe(0);
      expect(made.err).toContain("PostgreSQL");
      expect(await whoseKey(config, state, made.out.trim(), db.url)).toBe("acme");
    } finally {
      await db.dispose();
    }
  });
});
