/**
 * Tenancy in the database, on PGlite and on the local Postgres (a fresh database per test): seeding,
 * changes through the admin, the in-memory directory picking them up, a second directory on the same
 * Postgres, the legacy keys.json import, and no plain key in any text column.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createKeyRecord } from "../../tenants/keys.js";
import { tenancyConfig, tierConfig } from "../../tenants/testkit.js";
import type { Principal } from "../../tenants/types.js";
import { type Database, openDatabase } from "../open.js";
import { everyTextValue, type TestDatabase, testDatabase } from "../testkit.js";
import { ensureAdminToken, ensureDemoKey } from "./first-start.js";
import { openTenancy, type Tenancy } from "./open.js";

/** Polls `probe` every 50 ms until it holds; fails after 10 s (a bound, not a timing assertion). */
async function eventually(probe: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(["pglite", "postgres"] as const)("tenancy in the database on %s", (driver) => {
  let db: TestDatabase;
  const open: Tenancy[] = [];
  const extra: Database[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) t.close();
    for (const d of extra.splice(0)) await d.close();
    await db?.dispose();
  });
  async function tenancy(database: Database, stateDir?: string, refreshMs = 100): Promise<Tenancy> {
    const t = await openTenancy({ database, config: seedConfig(), refreshMs, ...(stateDir ? { stateDir } : {}) });
    open.push(t);
    return t;
  }
  const configKey = createKeyRecord("acme", new Date("2026-01-01T00:00:00Z"));
  const seedConfig = () =>
    tenancyConfig({
      tenants: [
        { id: "acme", name: "Acme", tier: "premium", keys: [{ ...configKey.record }] },
        { id: "hobby", name: "Hobbyist", tier: "free", keys: [] },
      ],
    });

  it("seeds tiers, tenants and config keys on the first start only; later the database is the truth", async () => {
    db = await testDatabase(driver);
    const first = await tenancy(db.database);
    expect(first.seeded).toBe(true);
    expect(
      first.directory
        .tiers()
        .map((t) => t.name)
        .sort(),
    ).toEqual(["free", "premium"]);
    expect(first.directory.tier("premium")).toEqual(seedConfig().tiers[1]);
    expect(
      first.directory
        .tenants()
        .map((t) => t.id)
        .sort(),
    ).toEqual(["acme", "hobby"]);
    const who = first.directory.authenticate(configKey.key) as Principal;
    expect(who.tenant.id).toBe("acme");
    expect(who.tier.name).toBe("premium");
    expect(who.keyId).toBe(configKey.record.id);
    expect(first.directory.authenticate("tg-not-a-key")).toBeUndefined();

    expect(await first.admin.deleteTenant("hobby")).toBe("ok");
    expect(await first.admin.deleteTier("free")).toBe("ok");
    first.close();
    const second = await tenancy(db.database);
    expect(second.seeded).toBe(false);
    expect(second.directory.tenants().map((t) => t.id)).toEqual(["acme"]);
    expect(second.directory.tier("free")).toBeUndefined();
  });

  it("creates, updates and deletes tiers and tenants, refusing unknown tiers and tiers in use", async () => {
    db = await testDatabase(driver);
    const { admin, directory } = await tenancy(db.database);
    const gold = tierConfig({ name: "gold", requestsPerMinute: 99, allowedVariants: ["nano-fp32"] });
    expect(await admin.createTier(gold)).toBe("ok");
    expect(await admin.createTier(gold)).toBe("exists");
    expect(await admin.getTier("gold")).toEqual(gold);
    expect(directory.tier("gold")).toEqual(gold); // the admin's own directory sees it at once
    expect(await admin.updateTier("gold", { requestsPerMinute: 7, allowedVariants: ["nano-b158"] })).toBe("ok");
    expect(await admin.getTier("gold")).toEqual({ ...gold, requestsPerMinute: 7, allowedVariants: ["nano-b158"] });
    expect(await admin.updateTier("nope", { priority: 1 })).toBe("not_found");

    expect(await admin.createTenant({ id: "initech", name: "Initech", tier: "platinum" })).toBe("unknown_tier");
    expect(await admin.createTenant({ id: "initech", name: "Initech", tier: "gold" })).toBe("ok");
    expect(await admin.createTenant({ id: "initech", name: "Other", tier: "gold" })).toBe("exists");
    expect(await admin.updateTenant("initech", { tier: "platinum" })).toBe("unknown_tier");
    expect(await admin.updateTenant("initech", { name: "Initech Corp" })).toBe("ok");
    expect(await admin.getTenant("initech")).toEqual({ id: "initech", name: "Initech Corp", tier: "gold" });
    expect(await admin.deleteTier("gold")).toBe("in_use");
    const key = await admin.createKey("initech");
    expect(directory.authenticate(key?.key ?? "")?.tier.requestsPerMinute).toBe(7);
    expect(await admin.deleteTenant("initech")).toBe("ok");
    expect(directory.authenticate(key?.key ?? "")).toBeUndefined();
    expect(await admin.listKeys("initech")).toEqual([]);
    expect(await admin.deleteTenant("initech")).toBe("not_found");
    expect(await admin.deleteTier("gold")).toBe("ok");
    expect(await admin.deleteTier("gold")).toBe("not_found");
    expect((await admin.listTiers()).map((t) => t.name).sort()).toEqual(["free", "premium"]);
  });

  it("creates keys shown once and stored as hashes, lists them by prefix, revokes them", async () => {
    db = await testDatabase(driver);
    const { admin, directory } = await tenancy(db.database);
    expect(await admin.createKey("nobody")).toBeUndefined();
    const a = await admin.createKey("hobby");
    const b = await admin.createKey("hobby");
    if (!a || !b) throw new Error("no key created");
    expect(directory.authenticate(a.key)?.tenant.id).toBe("hobby");
    const listed = await admin.listKeys("hobby");
    expect(listed.map((k) => k.id).sort()).toEqual([a.record.id, b.record.id].sort());
    expect(listed.every((k) => k.prefix.length === 9 && k.hash.length === 64)).toBe(true);
    expect((await admin.listKeys()).length).toBe(3); // and acme's config key
    expect(await admin.revokeKey(a.record.id)).toBe("revoked");
    expect(await admin.revokeKey(a.record.id)).toBe("already_revoked");
    expect(await admin.revokeKey("key_0000000000000000")).toBe("not_found");
    expect(directory.authenticate(a.key)).toBeUndefined();
    expect(directory.authenticate(b.key)?.keyId).toBe(b.record.id);
    expect((await admin.listKeys("hobby")).find((k) => k.id === a.record.id)?.revokedAt).toBeInstanceOf(Date);

    const token = await ensureAdminToken(db.database);
    const demo = await ensureDemoKey(db.database, "acme"); // acme has its config key: no demo key
    expect(demo).toBeUndefined();
    const text = await everyTextValue(db.database);
    expect(text).toContain(a.record.hash);
    for (const secret of [a.key, b.key, configKey.key, token ?? "missing"]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(9)); // nor the part after the display prefix
    }
  });

  it("a second directory on the same database sees a change within its refresh interval", async () => {
    db = await testDatabase(driver);
    const writer = await tenancy(db.database);
    // Postgres: a second pool, as a second replica has; PGlite is one process's database, so the
    // second directory shares the handle (what `tritgate keys` and a gateway can never do at once)
    const other = driver === "postgres" ? await openDatabase({ url: db.url, stateDir: db.stateDir }) : db.database;
    if (driver === "postgres") extra.push(other);
    const reader = await tenancy(other);
    expect(reader.seeded).toBe(false);
    const created = await writer.admin.createKey("hobby");
    if (!created) throw new Error("no key created");
    await eventually(() => reader.directory.authenticate(created.key) !== undefined, "the new key");
    await writer.admin.createTier(tierConfig({ name: "gold" }));
    await writer.admin.updateTenant("hobby", { tier: "gold" });
    await eventually(() => reader.directory.authenticate(created.key)?.tier.name === "gold", "the tier change");
    await writer.admin.revokeKey(created.record.id);
    await eventually(() => reader.directory.authenticate(created.key) === undefined, "the revocation");
  });

  it("imports a legacy keys.json once, revocations of config keys too, then never reads it again", async () => {
    db = await testDatabase(driver);
    const state = join(db.dir, "legacy");
    mkdirSync(state, { recursive: true });
    const kept = createKeyRecord("hobby", new Date("2026-02-01T00:00:00Z"));
    const gone = createKeyRecord("vanished", new Date("2026-02-01T00:00:00Z"));
    const revokedAt = "2026-03-01T00:00:00.000Z";
    const body = {
      version: 1,
      keys: [
        { ...kept.record, createdAt: kept.record.createdAt.toISOString() },
        { ...gone.record, createdAt: gone.record.createdAt.toISOString() },
        { ...configKey.record, createdAt: configKey.record.createdAt.toISOString(), revokedAt },
      ],
    };
    writeFileSync(join(state, "keys.json"), JSON.stringify(body));
    const first = await tenancy(db.database, state);
    expect(first.legacy).toEqual({ file: join(state, "keys.json"), imported: 2, skipped: 1 });
    expect(existsSync(join(state, "keys.json"))).toBe(false);
    expect(existsSync(join(state, "keys.json.imported"))).toBe(true);
    expect(first.directory.authenticate(kept.key)?.tenant.id).toBe("hobby");
    expect(first.directory.authenticate(configKey.key)).toBeUndefined();
    const stored = await first.admin.listKeys("acme");
    expect(stored[0]?.revokedAt?.toISOString()).toBe(revokedAt);
    first.close();

    await first.admin.revokeKey(kept.record.id);
    const second = await tenancy(db.database, state);
    expect(second.legacy.file).toBeUndefined();
    expect(second.directory.authenticate(kept.key)).toBeUndefined(); // the import did not run again
  });

  it("creates the admin token and the demo key once, and never again after the key is revoked", async () => {
    db = await testDatabase(driver);
    const { admin, directory } = await tenancy(db.database);
    const token = await ensureAdminToken(db.database);
    expect(token).toMatch(/^tgadmin-[A-Za-z0-9_-]{32}$/);
    expect(await ensureAdminToken(db.database)).toBeUndefined();
    await directory.reload();
    expect(directory.adminTokenHash()).toMatch(/^[0-9a-f]{64}$/);

    expect(await ensureDemoKey(db.database, "nobody")).toBeUndefined();
    expect(await ensureDemoKey(db.database, undefined)).toBeUndefined();
    const demo = await ensureDemoKey(db.database, "hobby");
    expect(demo?.tenantId).toBe("hobby");
    expect(await ensureDemoKey(db.database, "hobby")).toBeUndefined();
    await directory.reload();
    expect(directory.authenticate(demo?.key ?? "")?.tenant.id).toBe("hobby");
    await admin.revokeKey(demo?.keyId ?? "");
    expect(await ensureDemoKey(db.database, "hobby")).toBeUndefined();
  });
});
