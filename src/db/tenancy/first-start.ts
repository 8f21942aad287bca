/**
 * What a gateway creates the first time it actually serves: the admin token (unless the environment
 * gives one) and the demo tenant's key. Both are made only after the server listens, so a start that
 * fails earlier leaves no secret nobody has seen; each is created once across replicas (under the
 * tenancy lock) and returned once, for the caller to print.
 */
import { randomBytes } from "node:crypto";
import { count, eq } from "drizzle-orm";
import { createKeyRecord, hashKey } from "../../tenants/keys.js";
import type { Database } from "../open.js";
import { apiKeys, settings, tenants } from "../schema.js";
import { keyToRow } from "./rows.js";
import { ADMIN_TOKEN_SETTING, bumpTenancyVersion, underTenancyLock } from "./settings.js";

export const ADMIN_TOKEN_PREFIX = "tgadmin-";

/** A new admin token when none is stored yet (the caller prints it once); undefined otherwise. */
export async function ensureAdminToken(database: Database): Promise<string | undefined> {
  return underTenancyLock(database.orm, async (tx) => {
    const [stored] = await tx.select().from(settings).where(eq(settings.name, ADMIN_TOKEN_SETTING));
    if (stored) return undefined;
    const token = ADMIN_TOKEN_PREFIX + randomBytes(24).toString("base64url");
    await tx.insert(settings).values({ name: ADMIN_TOKEN_SETTING, value: hashKey(token) });
    await bumpTenancyVersion(tx);
    return token;
  });
}

export interface DemoKey {
  readonly key: string;
  readonly keyId: string;
  readonly tenantId: string;
}

/** A key for the demo tenant when it exists and has never had one (a revoked key counts: it does not come back). */
export async function ensureDemoKey(database: Database, tenantId: string | undefined): Promise<DemoKey | undefined> {
  if (tenantId === undefined) return undefined;
  return underTenancyLock(database.orm, async (tx) => {
    const [tenant] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId));
    if (!tenant) return undefined;
    const [keys] = await tx.select({ n: count() }).from(apiKeys).where(eq(apiKeys.tenantId, tenantId));
    if ((keys?.n ?? 0) > 0) return undefined;
    const { key, record } = createKeyRecord(tenantId);
    await tx.insert(apiKeys).values(keyToRow(record));
    await bumpTenancyVersion(tx);
    return { key, keyId: record.id, tenantId };
  });
}
