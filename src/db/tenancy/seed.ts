/**
 * The first start copies the config's tiers, tenants and keys (hashes) into the database; every later
 * start leaves the tables alone, so what the admin API changed (a tier deleted, a key revoked) stays
 * changed. A `keys.json` left by an older version is imported once, then renamed so it is not read again.
 */
import { existsSync, renameSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { openKeyStore } from "../../tenants/store.js";
import type { ApiKeyRecord, TenancyConfig } from "../../tenants/types.js";
import type { Database } from "../open.js";
import { apiKeys, settings, tenants, tiers } from "../schema.js";
import { keyToRow, tierToRow } from "./rows.js";
import { bumpTenancyVersion, SEEDED_SETTING, underTenancyLock } from "./settings.js";

/** True when this call seeded (the database had not been seeded before). */
export async function seedTenancy(database: Database, config: TenancyConfig): Promise<boolean> {
  return underTenancyLock(database.orm, async (tx) => {
    const [seeded] = await tx.select().from(settings).where(eq(settings.name, SEEDED_SETTING));
    if (seeded) return false;
    if (config.tiers.length > 0) await tx.insert(tiers).values(config.tiers.map(tierToRow)).onConflictDoNothing();
    if (config.tenants.length > 0)
      await tx
        .insert(tenants)
        .values(config.tenants.map((t) => ({ id: t.id, name: t.name, tier: t.tier })))
        .onConflictDoNothing();
    const keys: ApiKeyRecord[] = config.tenants.flatMap((t) => t.keys.map((k) => ({ ...k, tenantId: t.id })));
    if (keys.length > 0) await tx.insert(apiKeys).values(keys.map(keyToRow)).onConflictDoNothing();
    await tx.insert(settings).values({ name: SEEDED_SETTING, value: new Date().toISOString() });
    await bumpTenancyVersion(tx);
    return true;
  });
}

export interface LegacyImport {
  /** the file imported (renamed to `<file>.imported`), or undefined when there was none */
  readonly file: string | undefined;
  readonly imported: number;
  /** records of tenants the database does not have (they would authenticate nobody) */
  readonly skipped: number;
}

export const IMPORTED_SUFFIX = ".imported";

/**
 * Imports `<stateDir>/keys.json`: its keys, and its revocations (also of config keys). Idempotent, so
 * a crash between the import and the rename only imports the same records again on the next start.
 */
export async function importLegacyKeys(database: Database, stateDir: string): Promise<LegacyImport> {
  const store = openKeyStore(stateDir);
  if (!existsSync(store.path)) return { file: undefined, imported: 0, skipped: 0 };
  const records = store.load();
  const known = new Set((await database.orm.select({ id: tenants.id }).from(tenants)).map((t) => t.id));
  const importable = records.filter((r) => known.has(r.tenantId));
  if (importable.length > 0) {
    await database.orm
      .insert(apiKeys)
      .values(importable.map(keyToRow))
      .onConflictDoUpdate({
        target: apiKeys.id,
        // a revocation is never undone by an import
        set: { revokedAt: sql`coalesce(${apiKeys.revokedAt}, excluded.revoked_at)` },
      });
  }
  if (importable.length > 0) await bumpTenancyVersion(database.orm);
  renameSync(store.path, `${store.path}${IMPORTED_SUFFIX}`);
  return { file: store.path, imported: importable.length, skipped: records.length - importable.length };
}
