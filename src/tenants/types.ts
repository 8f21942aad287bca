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

export interface TenantDirectory {
  /** The key from `Authorization: Bearer <key>`; undefined when unknown or revoked. */
  authenticate(key: string): Principal | undefined;
  tier(name: string): TierConfig | undefined;
  tiers(): readonly TierConfig[];
  tenants(): readonly Tenant[];
  /** A new key for a tenant: the plain key is returned once and only its hash is kept. */
  createKey(tenantId: string): { readonly key: string; readonly record: ApiKeyRecord };
  revokeKey(keyId: string): boolean;
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
