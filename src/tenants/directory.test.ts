import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTenantDirectory, TenantConfigError } from "./directory.js";
import { generateKey, hashKey, keyPrefix } from "./keys.js";
import { openKeyStore } from "./store.js";
import { readTree, tenancyConfig } from "./testkit.js";

const stateDir = () => mkdtempSync(join(tmpdir(), "tg-dir-"));

describe("tenant directory", () => {
  it("authenticates a created key to its tenant and tier", () => {
    const dir = createTenantDirectory(tenancyConfig());
    const { key, record } = dir.createKey("acme");
    const p = dir.authenticate(key);
    expect(p?.tenant).toEqual({ id: "acme", name: "Acme", tier: "premium" });
    expect(p?.tier.name).toBe("premium");
    expect(p?.tier.onOverload).toBe("queue");
    expect(p?.keyId).toBe(record.id);
    expect(dir.authenticate(generateKey())).toBeUndefined();
    expect(dir.authenticate(key.slice(0, -1))).toBeUndefined();
    expect(dir.authenticate(`${key} `)).toBeUndefined();
    expect(dir.authenticate("")).toBeUndefined();
    expect(dir.authenticate("x".repeat(100_000))).toBeUndefined();
  });

  it("authenticates keys given in the config by hash, and not revoked ones", () => {
    const live = generateKey();
    const dead = generateKey();
    const config = tenancyConfig({
      tenants: [
        {
          id: "acme",
          name: "Acme",
          tier: "premium",
          keys: [
            { id: "k1", hash: hashKey(live), prefix: keyPrefix(live), createdAt: new Date(0) },
            {
              id: "k2",
              hash: hashKey(dead),
              prefix: keyPrefix(dead),
              createdAt: new Date(0),
              revokedAt: new Date(1),
            },
          ],
        },
      ],
    });
    const dir = createTenantDirectory(config);
    expect(dir.authenticate(live)?.keyId).toBe("k1");
    expect(dir.authenticate(dead)).toBeUndefined();
    expect(dir.keys("acme").map((k) => k.id)).toEqual(["k1", "k2"]);
  });

  it("stops authenticating a key once it is revoked", () => {
    const dir = createTenantDirectory(tenancyConfig());
    const a = dir.createKey("hobby");
    const b = dir.createKey("hobby");
    expect(dir.revokeKey(a.record.id)).toBe(true);
    expect(dir.authenticate(a.key)).toBeUndefined();
    expect(dir.authenticate(b.key)?.tenant.id).toBe("hobby");
    expect(dir.keys().find((k) => k.id === a.record.id)?.revokedAt).toBeInstanceOf(Date);
    expect(dir.revokeKey(a.record.id)).toBe(true); // idempotent
    expect(dir.revokeKey("key_nope")).toBe(false);
  });

  it("rejects tenants on unknown tiers at construction, naming both", () => {
    const config = tenancyConfig({ tenants: [{ id: "acme", name: "Acme", tier: "gold", keys: [] }] });
    expect(() => createTenantDirectory(config)).toThrow(TenantConfigError);
    expect(() => createTenantDirectory(config)).toThrow(/tenant "acme" references unknown tier "gold"/);
  });

  it("refuses keys for unknown tenants", () => {
    expect(() => createTenantDirectory(tenancyConfig()).createKey("nobody")).toThrow(/unknown tenant "nobody"/);
  });

  it("lists tiers and tenants", () => {
    const dir = createTenantDirectory(tenancyConfig());
    expect(dir.tiers().map((t) => t.name)).toEqual(["free", "premium"]);
    expect(dir.tier("free")?.onOverload).toBe("reject");
    expect(dir.tier("gold")).toBeUndefined();
    expect(dir.tenants().map((t) => t.id)).toEqual(["acme", "hobby"]);
  });

  describe("with a key store", () => {
    it("persists hashes only, in a 0600 file, and a new directory authenticates from it", () => {
      const state = stateDir();
      const dir = createTenantDirectory(tenancyConfig(), { store: openKeyStore(state) });
      const created = [dir.createKey("acme"), dir.createKey("hobby"), dir.createKey("acme")];
      dir.revokeKey(created[2]?.record.id ?? "");
      const files = readTree(state);
      expect(files.map((f) => f.path)).toEqual([join(state, "keys.json")]);
      for (const f of files) {
        expect(f.mode).toBe(0o600);
        for (const { key, record } of created) {
          expect(f.text).not.toContain(key);
          expect(f.text).not.toContain(key.slice(9)); // not even the part after the display prefix
          expect(f.text).toContain(record.hash);
        }
      }
      const again = createTenantDirectory(tenancyConfig(), { store: openKeyStore(state) });
      expect(again.authenticate(created[0]?.key ?? "")?.tenant.id).toBe("acme");
      expect(again.authenticate(created[1]?.key ?? "")?.tenant.id).toBe("hobby");
      expect(again.authenticate(created[2]?.key ?? "")).toBeUndefined();
    });

    it("sees keys another process created or revoked once the refresh interval passes", () => {
      const state = stateDir();
      let now = 1_000_000;
      const server = createTenantDirectory(tenancyConfig(), { store: openKeyStore(state), clock: () => now });
      const cli = createTenantDirectory(tenancyConfig(), { store: openKeyStore(state), refreshMs: 0 });
      const { key, record } = cli.createKey("acme");
      expect(server.authenticate(key)).toBeUndefined(); // within the interval: not re-read yet
      now += 1000;
      expect(server.authenticate(key)?.keyId).toBe(record.id);
      cli.revokeKey(record.id);
      now += 1000;
      expect(server.authenticate(key)).toBeUndefined();
    });

    it("revokes a config key through the store", () => {
      const state = stateDir();
      const key = generateKey();
      const config = tenancyConfig({
        tenants: [
          {
            id: "acme",
            name: "Acme",
            tier: "premium",
            keys: [{ id: "cfg1", hash: hashKey(key), prefix: keyPrefix(key), createdAt: new Date(0) }],
          },
        ],
      });
      const dir = createTenantDirectory(config, { store: openKeyStore(state) });
      expect(dir.authenticate(key)?.keyId).toBe("cfg1");
      expect(dir.revokeKey("cfg1")).toBe(true);
      expect(dir.authenticate(key)).toBeUndefined();
      expect(createTenantDirectory(config, { store: openKeyStore(state) }).authenticate(key)).toBeUndefined();
    });

    it("keeps the last good keys when the store file is corrupted, and reports corruption on load", () => {
      const state = stateDir();
      let now = 0;
      const dir = createTenantDirectory(tenancyConfig(), { store: openKeyStore(state), clock: () => now });
      const { key } = dir.createKey("acme");
      writeFileSync(join(state, "keys.json"), "{ not json");
      now += 5000;
      expect(dir.authenticate(key)?.tenant.id).toBe("acme");
      expect(() => openKeyStore(state).load()).toThrow(/keys\.json: not valid JSON/);
    });
  });
});
