/** The rows of `settings` tenancy uses, and a lock that makes "check, then create once" safe across replicas. */
import { sql } from "drizzle-orm";
import type { Orm } from "../open.js";
import { bumpVersion } from "../polled.js";

/** When the config's tiers, tenants and keys were copied in; from then on the database is the truth. */
export const SEEDED_SETTING = "tenancy.seeded_at";
/** The SHA-256 (hex) of the admin token generated on the first start without `TRITGATE_ADMIN_TOKEN`. */
export const ADMIN_TOKEN_SETTING = "admin.token_sha256";

/**
 * A counter every change to tenancy bumps (the admin, the first start's key, the legacy import): a
 * directory polls this one row and reads the tables only when it moved.
 */
export const VERSION_SETTING = "tenancy.version";

/** Bumps the tenancy version (after a change, so other processes reload). */
export function bumpTenancyVersion(orm: Pick<Orm, "execute">): Promise<void> {
  return bumpVersion(orm, VERSION_SETTING);
}

/** Any constant (not the migrations' one): replicas seeding or creating a first key take turns. */
const TENANCY_LOCK = 7_310_242;

type Transaction = Parameters<Parameters<Orm["transaction"]>[0]>[0];

/** Runs `work` in a transaction holding the tenancy lock (released at commit or rollback). */
export function underTenancyLock<T>(orm: Orm, work: (tx: Transaction) => Promise<T>): Promise<T> {
  return orm.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${TENANCY_LOCK})`);
    return work(tx);
  });
}
