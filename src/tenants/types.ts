/**
 * The contract between the gateway and tenancy: who a key belongs to, what their tier allows,
 * and whether a request fits their limits. The server depends on these interfaces only;
 * implementations live beside them (in-memory, Redis-backed limits, config-file loading).
 */
import type { Tier } from "../../router/index.js";

/** A tier as configured: the router's view plus the limits the gateway enforces. */
export interface TierConfig extends Tier {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** tokens (input + output) per calendar month (UTC); 0 = unlimited */
  readonly monthlyTokenBudget: number;
  /** the largest max_tokens a request may ask for */
  readonly maxOutputTokens: number;
  /** the gateway's response cache for this tier's tenants; absent = off */
  readonly responseCache?: ResponseCachePolicy;
}

/**
 * Whether a tier's deterministic requests are answered from the response cache. Entries are kept
 * per tenant (never shared between tenants), for `ttlSeconds`.
 */
export interface ResponseCachePolicy {
  /** semantic: an exact hit, else the stored answer to the most similar last user message (same everything else) */
  readonly mode: "off" | "exact" | "semantic";
  readonly ttlSeconds: number;
  /** semantic mode: the least cosine similarity of the two messages' embeddings that counts as the same question */
  readonly similarity: number;
  /** a hit's tokens count against the limits and are priced (its usage reports them either way) */
  readonly billHits: boolean;
}

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly tier: string;
}

/** A tenant as the config file lists it, with the keys written there (hashes, never keys). */
export interface ConfiguredTenant extends Tenant {
  readonly keys: readonly Omit<ApiKeyRecord, "tenantId">[];
}

/** What a tenant directory is built from: the config's tiers and tenants (the gateway config has both). */
export interface TenancyConfig {
  readonly tiers: readonly TierConfig[];
  readonly tenants: readonly ConfiguredTenant[];
}

/** What is stored for a key: never the key itself. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly tenantId: string;
  /** hex SHA-256 of the full key */
  readonly hash: string;
  /** the key's first characters (`tg-` + 6), for display and audit */
  readonly prefix: string;
  readonly createdAt: Date;
  readonly revokedAt?: Date;
}

export interface Principal {
  readonly tenant: Tenant;
  readonly tier: TierConfig;
  readonly keyId: string;
}

/**
 * What the request path reads: synchronous, from memory (no database query per request). Changes
 * go through `TenancyAdmin`; a directory picks them up within its refresh interval.
 */
export interface TenantDirectory {
  /** The key from `Authorization: Bearer <key>`; undefined when unknown or revoked. */
  authenticate(key: string): Principal | undefined;
  tier(name: string): TierConfig | undefined;
  tiers(): readonly TierConfig[];
  tenants(): readonly Tenant[];
}

/** A plain key, returned once by `createKey`, and the record kept for it. */
export interface CreatedKey {
  readonly key: string;
  readonly record: ApiKeyRecord;
}

/** What a change answered: done, or why not (the admin API maps each to its status). */
export type TierChange = "ok" | "not_found" | "exists" | "in_use";
export type TenantChange = "ok" | "not_found" | "exists" | "unknown_tier";
export type KeyRevocation = "revoked" | "already_revoked" | "not_found";

/** The tier fields a change may set (all but the name). */
export type TierUpdate = Partial<Omit<TierConfig, "name">>;
export type TenantUpdate = Partial<Pick<Tenant, "name" | "tier">>;

/** Managing tenancy where it is kept (the database): what the admin API and `tritgate keys` call. */
export interface TenancyAdmin {
  listTiers(): Promise<readonly TierConfig[]>;
  getTier(name: string): Promise<TierConfig | undefined>;
  createTier(tier: TierConfig): Promise<TierChange>;
  updateTier(name: string, update: TierUpdate): Promise<TierChange>;
  /** "in_use" while a tenant is on it. */
  deleteTier(name: string): Promise<TierChange>;
  listTenants(): Promise<readonly Tenant[]>;
  getTenant(id: string): Promise<Tenant | undefined>;
  createTenant(tenant: Tenant): Promise<TenantChange>;
  updateTenant(id: string, update: TenantUpdate): Promise<TenantChange>;
  /** Deletes the tenant and its keys. */
  deleteTenant(id: string): Promise<TenantChange>;
  /** undefined when the tenant does not exist. */
  createKey(tenantId: string): Promise<CreatedKey | undefined>;
  /** Every key record (active and revoked), optionally of one tenant, oldest first. */
  listKeys(tenantId?: string): Promise<readonly ApiKeyRecord[]>;
  revokeKey(keyId: string): Promise<KeyRevocation>;
}

export type LimitReason = "requests_per_minute" | "tokens_per_minute" | "monthly_budget";

export interface LimitDecision {
  readonly allowed: boolean;
  readonly reason?: LimitReason;
  /** seconds until a retry can succeed (for `retry-after`) */
  readonly retryAfterSeconds?: number;
  /** for the x-ratelimit-* headers */
  readonly limitRequests: number;
  readonly remainingRequests: number;
  readonly limitTokens: number;
  readonly remainingTokens: number;
  readonly resetRequestsSeconds: number;
  readonly resetTokensSeconds: number;
  /** tokens left of the monthly budget after this decision, when the tier has one */
  readonly remainingBudgetTokens?: number;
}

export interface RateLimiter {
  /** Counts the request and reserves its estimated tokens, or refuses it. `now` in ms since epoch. */
  admit(tenantId: string, tier: TierConfig, estimatedTokens: number, now: number): Promise<LimitDecision>;
  /** Replaces the reservation with the tokens actually used once the request ends. */
  settle(tenantId: string, tier: TierConfig, estimatedTokens: number, actualTokens: number, now: number): Promise<void>;
  close(): Promise<void>;
}
