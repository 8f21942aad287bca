/**
 * `TenancyAdmin` over the database: tiers, tenants and keys changed with one statement or one
 * transaction each. Conflicts the database detects (a duplicate name, a tier deleted while a tenant is
 * created on it) are answered like the checks made before them, never as errors.
 */
import { and, asc, count, eq, isNull, sql } from "drizzle-orm";
import { createKeyRecord } from "../../tenants/keys.js";
import type {
  ApiKeyRecord,
  CreatedKey,
  KeyRevocation,
  TenancyAdmin,
  TenantChange,
  TierChange,
} from "../../tenants/types.js";
import type { Database } from "../open.js";
import { apiKeys, tenants, tiers } from "../schema.js";
import { keyFromRow, keyToRow, tenantFromRow, tierFromRow, tierToRow } from "./rows.js";
import { bumpTenancyVersion } from "./settings.js";

/** The SQLSTATE of a database error, wherever the driver or drizzle wrapped it. */
export function sqlState(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";

/** `onChange` runs after every change that took effect (the directory reloads, so its own process sees it at once). */
export function databaseTenancyAdmin(database: Database, onChange: () => Promise<void>): TenancyAdmin {
  const { orm } = database;
  async function changed<T>(result: T, ok: boolean): Promise<T> {
    if (ok) {
      await bumpTenancyVersion(orm);
      await onChange();
    }
    return result;
  }

  return {
    async listTiers() {
      return (await orm.select().from(tiers).orderBy(asc(tiers.priority), asc(tiers.name))).map(tierFromRow);
    },
    async getTier(name) {
      const [row] = await orm.select().from(tiers).where(eq(tiers.name, name));
      return row && tierFromRow(row);
    },
    async createTier(tier) {
      const added = await orm
        .insert(tiers)
        .values(tierToRow(tier))
        .onConflictDoNothing()
        .returning({ name: tiers.name });
      return changed<TierChange>(added.length > 0 ? "ok" : "exists", added.length > 0);
    },
    async updateTier(name, update) {
      if (Object.keys(update).length === 0) return (await this.getTier(name)) ? "ok" : "not_found";
      const set = { ...update, ...(update.allowedVariants ? { allowedVariants: [...update.allowedVariants] } : {}) };
      const updated = await orm
        .update(tiers)
        .set({ ...set, updatedAt: sql`now()` })
        .where(eq(tiers.name, name))
        .returning({ name: tiers.name });
      return changed<TierChange>(updated.length > 0 ? "ok" : "not_found", updated.length > 0);
    },
    async deleteTier(name) {
      try {
        const result = await orm.transaction(async (tx): Promise<TierChange> => {
          const [users] = await tx.select({ n: count() }).from(tenants).where(eq(tenants.tier, name));
          if ((users?.n ?? 0) > 0) return "in_use";
          const deleted = await tx.delete(tiers).where(eq(tiers.name, name)).returning({ name: tiers.name });
          return deleted.length > 0 ? "ok" : "not_found";
        });
        return changed(result, result === "ok");
      } catch (e) {
        if (sqlState(e) === FOREIGN_KEY_VIOLATION) return "in_use"; // a tenant was put on it meanwhile
        throw e;
      }
    },

    async listTenants() {
      return (await orm.select().from(tenants).orderBy(asc(tenants.id))).map(tenantFromRow);
    },
    async getTenant(id) {
      const [row] = await orm.select().from(tenants).where(eq(tenants.id, id));
      return row && tenantFromRow(row);
    },
    async createTenant(tenant) {
      try {
        const added = await orm
          .insert(tenants)
          .values({ id: tenant.id, name: tenant.name, tier: tenant.tier })
          .onConflictDoNothing()
          .returning({ id: tenants.id });
        return changed<TenantChange>(added.length > 0 ? "ok" : "exists", added.length > 0);
      } catch (e) {
        if (sqlState(e) === FOREIGN_KEY_VIOLATION) return "unknown_tier";
        throw e;
      }
    },
    async updateTenant(id, update) {
      if (update.name === undefined && update.tier === undefined)
        return (await this.getTenant(id)) ? "ok" : "not_found";
      try {
        const updated = await orm
          .update(tenants)
          .set({
            ...(update.name === undefined ? {} : { name: update.name }),
            ...(update.tier === undefined ? {} : { tier: update.tier }),
          })
          .where(eq(tenants.id, id))
          .returning({ id: tenants.id });
        return changed<TenantChange>(updated.length > 0 ? "ok" : "not_found", updated.length > 0);
      } catch (e) {
        if (sqlState(e) === FOREIGN_KEY_VIOLATION) return "unknown_tier";
        throw e;
      }
    },
    async deleteTenant(id) {
      const deleted = await orm.transaction(async (tx) => {
        await tx.delete(apiKeys).where(eq(apiKeys.tenantId, id));
        return tx.delete(tenants).where(eq(tenants.id, id)).returning({ id: tenants.id });
      });
      return changed<TenantChange>(deleted.length > 0 ? "ok" : "not_found", deleted.length > 0);
    },

    async createKey(tenantId): Promise<CreatedKey | undefined> {
      const created = createKeyRecord(tenantId);
      try {
        await orm.insert(apiKeys).values(keyToRow(created.record));
      } catch (e) {
        if (sqlState(e) === FOREIGN_KEY_VIOLATION) return undefined;
        // a hash collision of 192 random bits does not happen; anything else is the database's to report
        if (sqlState(e) === UNIQUE_VIOLATION) throw new Error("a key with the same hash exists");
        throw e;
      }
      await bumpTenancyVersion(orm);
      await onChange();
      return created;
    },
    async listKeys(tenantId): Promise<readonly ApiKeyRecord[]> {
      const rows = await orm
        .select()
        .from(apiKeys)
        .where(tenantId === undefined ? undefined : eq(apiKeys.tenantId, tenantId))
        .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
      return rows.map(keyFromRow);
    },
    async revokeKey(keyId): Promise<KeyRevocation> {
      const revoked = await orm
        .update(apiKeys)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
        .returning({ id: apiKeys.id });
      if (revoked.length > 0) return changed<KeyRevocation>("revoked", true);
      const [existing] = await orm.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.id, keyId));
      return existing ? "already_revoked" : "not_found";
    },
  };
}
