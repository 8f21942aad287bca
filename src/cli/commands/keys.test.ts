import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG_YAML } from "../../config/defaults.js";
import { loadConfig } from "../../config/load.js";
import { createTenantDirectory } from "../../tenants/directory.js";
import { openKeyStore } from "../../tenants/store.js";
import { readTree } from "../../tenants/testkit.js";
import { keysCommand } from "./keys.js";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(" ")}\n`;
  });
  vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
    err += `${parts.join(" ")}\n`;
  });
  try {
    return { code: await keysCommand.run(args), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

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
    for (const f of readTree(state)) {
      expect(f.mode).toBe(0o600);
      expect(f.text).not.toContain(key.slice(3));
    }
    const dir = createTenantDirectory(loadConfig(config, {}), { store: openKeyStore(state) });
    expect(dir.authenticate(key)?.tenant.id).toBe("acme");
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

    const dir = createTenantDirectory(loadConfig(config, {}), { store: openKeyStore(state) });
    expect(dir.authenticate(b.key ?? "")).toBeUndefined();
    expect(dir.authenticate(a)?.tenant.id).toBe("acme");
    expect((await cli(["revoke", b.id ?? "", ...base])).out).toContain("already revoked");
  });

  it("fails clearly on unknown tenants, keys and actions", async () => {
    const { base } = setup();
    expect(await cli(["create", "--tenant", "nobody", ...base])).toMatchObject({ code: 1 });
    expect((await cli(["create", "--tenant", "nobody", ...base])).err).toMatch(
      /unknown tenant "nobody" \(tenants: demo, acme\)/,
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
