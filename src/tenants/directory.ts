/**
 * The in-memory tenant directory: tiers and tenants from the config, keys from the config and (when a
 * key store is given) from `<stateDir>/keys.json`, looked up by the SHA-256 of the presented key.
 * A record in the store overrides a config key with the same id (that is how a config key is revoked).
 */
import { createKeyRecord, hashesEqual, hashKey } from "./keys.js";
import type { KeyStore } from "./store.js";
import type {
  ApiKeyRecord,
  CreatedKey,
  Principal,
  TenancyConfig,
  Tenant,
  TenantDirectory,
  TierConfig,
} from "./types.js";

/** Longer bearer tokens are refused before hashing. */
export const MAX_KEY_LENGTH = 256;

export interface DirectoryOptions {
  /** Persist created and revoked keys here, and pick up keys other processes (`tritgate keys`) wrote. */
  readonly store?: KeyStore;
  /** How often `authenticate` checks the store file for changes; default 1000 ms, 0 = on every call. */
  readonly refreshMs?: number;
  /** For tests. */
  readonly clock?: () => number;
}

/** The directory plus what an admin API needs beyond the gateway's contract. */
export interface ManagedTenantDirectory extends TenantDirectory {
  tenant(id: string): Tenant | undefined;
  /** Every key record (active and revoked), optionally of one tenant. */
  keys(tenantId?: string): readonly ApiKeyRecord[];
  /** A new key for a tenant: the plain key is returned once and only its hash is kept. */
  createKey(tenantId: string): CreatedKey;
  revokeKey(keyId: string): boolean;
  /** Re-reads the key store now. */
  reload(): void;
}

export class TenantConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TenantConfigError";
  }
}

export function createTenantDirectory(config: TenancyConfig, options: DirectoryOptions = {}): ManagedTenantDirectory {
  const clock = options.clock ?? Date.now;
  const refreshMs = options.refreshMs ?? 1000;
  const store = options.store;

  const tiers = new Map<string, TierConfig>();
  for (const tier of config.tiers) {
    if (tiers.has(tier.name)) throw new TenantConfigError(`duplicate tier "${tier.name}"`);
    tiers.set(tier.name, tier);
  }
  const tenants = new Map<string, Tenant>();
  for (const t of config.tenants) {
    if (tenants.has(t.id)) throw new TenantConfigError(`duplicate tenant "${t.id}"`);
    if (!tiers.has(t.tier))
      throw new TenantConfigError(
        `tenant "${t.id}" references unknown tier "${t.tier}" (tiers: ${[...tiers.keys()].join(", ") || "none"})`,
      );
    tenants.set(t.id, { id: t.id, name: t.name, tier: t.tier });
  }
  const configKeys: ApiKeyRecord[] = config.tenants.flatMap((t) =>
    t.keys.map((k) => ({
      id: k.id,
      tenantId: t.id,
      hash: k.hash,
      prefix: k.prefix,
      createdAt: k.createdAt,
      ...(k.revokedAt ? { revokedAt: k.revokedAt } : {}),
    })),
  );

  let byId = new Map<string, ApiKeyRecord>();
  let byHash = new Map<string, Principal & { readonly record: ApiKeyRecord }>();
  let stamp: string | null = null;
  let checkedAt = Number.NEGATIVE_INFINITY;

  function rebuild(stored: readonly ApiKeyRecord[]): void {
    const ids = new Map<string, ApiKeyRecord>();
    for (const r of configKeys) ids.set(r.id, r);
    for (const r of stored) ids.set(r.id, r); // the store wins: revocations of config keys live there
    const hashes = new Map<string, Principal & { readonly record: ApiKeyRecord }>();
    for (const record of ids.values()) {
      if (record.revokedAt) continue;
      const tenant = tenants.get(record.tenantId);
      const tier = tenant && tiers.get(tenant.tier);
      if (!tenant || !tier) continue; // a stored key of a tenant no longer configured authenticates nobody
      hashes.set(record.hash, { tenant, tier, keyId: record.id, record });
    }
    byId = ids;
    byHash = hashes;
  }

  function reload(): void {
    if (store) {
      stamp = store.stamp();
      rebuild(store.load());
    } else rebuild([]);
    checkedAt = clock();
  }

  function refresh(): void {
    if (!store) return;
    const now = clock();
    if (now - checkedAt < refreshMs) return;
    checkedAt = now;
    const current = store.stamp();
    if (current !== stamp) {
      try {
        reload();
      } catch {
        // a half-edited or unreadable store keeps the last good keys; the next change is tried again
      }
    }
  }

  function requireRecord(id: string): ApiKeyRecord | undefined {
    refresh();
    return byId.get(id);
  }

  reload();

  return {
    authenticate(key) {
      if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
      refresh();
      const hash = hashKey(key);
      const hit = byHash.get(hash);
      // the map lookup is by hash (revealing nothing about the key); the final check is constant-time
      if (!hit || !hashesEqual(hit.record.hash, hash)) return undefined;
      return { tenant: hit.tenant, tier: hit.tier, keyId: hit.keyId };
    },
    tier: (name) => tiers.get(name),
    tiers: () => [...tiers.values()],
    tenants: () => [...tenants.values()],
    tenant: (id) => tenants.get(id),
    keys(tenantId) {
      refresh();
      const all = [...byId.values()];
      return tenantId === undefined ? all : all.filter((r) => r.tenantId === tenantId);
    },
    createKey(tenantId) {
      if (!tenants.has(tenantId)) throw new TenantConfigError(`unknown tenant "${tenantId}"`);
      const created = createKeyRecord(tenantId, new Date(clock()));
      store?.put(created.record);
      byId.set(created.record.id, created.record);
      rebuild([...byId.values()].filter((r) => !configKeys.includes(r)));
      if (store) stamp = store.stamp();
      return created;
    },
    revokeKey(keyId) {
      const record = requireRecord(keyId);
      if (!record) return false;
      if (record.revokedAt) return true;
      const revoked: ApiKeyRecord = { ...record, revokedAt: new Date(clock()) };
      store?.put(revoked);
      byId.set(keyId, revoked);
      rebuild([...byId.values()].filter((r) => !configKeys.includes(r)));
      if (store) stamp = store.stamp();
      return true;
    },
    reload,
  };
}
