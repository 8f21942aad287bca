/** Tenancy rows ↔ the tenants contract's types (pure). */
import type { ApiKeyRecord, Tenant, TierConfig } from "../../tenants/types.js";
import type { apiKeys, TierRow, tiers } from "../schema.js";

type TierInsert = typeof tiers.$inferInsert;
type ApiKeyInsert = typeof apiKeys.$inferInsert;

export function tierFromRow(row: TierRow): TierConfig {
  const { createdAt: _created, updatedAt: _updated, responseCache, ...tier } = row;
  return { ...tier, allowedVariants: [...row.allowedVariants], ...(responseCache !== null && { responseCache }) };
}

/** Every column of a tier but the timestamps: what a create or an update writes. */
export function tierToRow(tier: TierConfig): Omit<TierInsert, "createdAt" | "updatedAt"> {
  return {
    name: tier.name,
    qualityFloor: tier.qualityFloor,
    ttftSlaMs: tier.ttftSlaMs,
    totalSlaMs: tier.totalSlaMs,
    pricePer1kInput: tier.pricePer1kInput,
    pricePer1kOutput: tier.pricePer1kOutput,
    allowedVariants: [...tier.allowedVariants],
    onOverload: tier.onOverload,
    maxQueueWaitMs: tier.maxQueueWaitMs,
    priority: tier.priority,
    strategy: tier.strategy,
    cascadeThreshold: tier.cascadeThreshold,
    requestsPerMinute: tier.requestsPerMinute,
    tokensPerMinute: tier.tokensPerMinute,
    monthlyTokenBudget: tier.monthlyTokenBudget,
    maxOutputTokens: tier.maxOutputTokens,
    responseCache: tier.responseCache ?? null,
  };
}

export function tenantFromRow(row: { id: string; name: string; tier: string }): Tenant {
  return { id: row.id, name: row.name, tier: row.tier };
}

export function keyFromRow(row: {
  id: string;
  tenantId: string;
  hash: string;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
}): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    hash: row.hash,
    prefix: row.prefix,
    createdAt: new Date(row.createdAt),
    ...(row.revokedAt === null ? {} : { revokedAt: new Date(row.revokedAt) }),
  };
}

export function keyToRow(record: ApiKeyRecord): ApiKeyInsert {
  return {
    id: record.id,
    tenantId: record.tenantId,
    hash: record.hash,
    prefix: record.prefix,
    createdAt: record.createdAt.toISOString(),
    revokedAt: record.revokedAt ? record.revokedAt.toISOString() : null,
  };
}
