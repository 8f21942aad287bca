/**
 * Usage and cost over a range of UTC days, per tenant, per variant or per day: sums of `daily_usage`
 * only. The recorder keeps that rollup in the transaction that inserts the requests, so a report costs
 * days × tenants × variants rows (one tenant's through `daily_usage_tenant_day_idx`), never a scan of `requests`.
 */
import { and, asc, between, eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../open.js";
import { type DailyUsageRow, dailyUsage, NO_VARIANT } from "../schema.js";
import { assertDayRange, type DayRange } from "./range.js";

/** The rollup's additive columns: every one is summed over the range. */
export const SUMMED = [
  "requests",
  "errors",
  "slaMisses",
  "degraded",
  "escalated",
  "cacheHits",
  "tokensIn",
  "tokensOut",
  "totalMs",
  "cpuMs",
  "energyJ",
  "cost",
  "price",
  "counterfactualCost",
] as const satisfies readonly (keyof DailyUsageRow)[];

type Summed = (typeof SUMMED)[number];
export type UsageSums = Pick<DailyUsageRow, Summed>;

/** What the sums say, worked out once here so that every reader derives them the same way. */
export interface UsageRates {
  /** counterfactualCost − cost: what answering on the variants chosen saved against the family's fp32 variant */
  readonly savings: number;
  /** savings / counterfactualCost; null when there is no counterfactual cost */
  readonly savingsRatio: number | null;
  /** errors / requests (status ≥ 400); null without requests */
  readonly errorRate: number | null;
  /** slaMisses / requests; null without requests */
  readonly slaMissRate: number | null;
}

export type UsageFigures = UsageSums & UsageRates;

export type UsageGroupBy = "tenant" | "variant" | "day";

/** Each group's key, named as the schema names it; `variant` is null for requests no variant answered. */
export interface UsageGroupKey {
  readonly tenant: Pick<DailyUsageRow, "tenantId">;
  readonly variant: { readonly variant: DailyUsageRow["variant"] | null };
  readonly day: Pick<DailyUsageRow, "day">;
}

export type UsageGroup<G extends UsageGroupBy> = UsageGroupKey[G] & UsageFigures;

export interface UsageQuery<G extends UsageGroupBy> {
  readonly range: DayRange;
  /** one tenant's rows only; absent: every tenant's */
  readonly tenantId?: string | undefined;
  readonly groupBy: G;
}

export interface UsageReport<G extends UsageGroupBy> {
  readonly range: DayRange;
  readonly tenantId: string | null;
  readonly groupBy: G;
  /** the sums over every group */
  readonly totals: UsageFigures;
  /** ordered by their key; only groups with rows (a day without traffic is absent) */
  readonly groups: UsageGroup<G>[];
}

const GROUP_COLUMNS = { tenant: dailyUsage.tenantId, variant: dailyUsage.variant, day: dailyUsage.day } as const;

function sumsSelection(): { [K in Summed]: SQL<number> } {
  // sum() of an integer column is a bigint (a string from the drivers): Number keeps one type per field
  const entries = SUMMED.map((k) => [k, sql<number>`coalesce(sum(${dailyUsage[k]}), 0)`.mapWith(Number)]);
  return Object.fromEntries(entries) as { [K in Summed]: SQL<number> };
}

export function ratesOf(sums: UsageSums): UsageFigures {
  const savings = sums.counterfactualCost - sums.cost;
  return {
    ...sums,
    savings,
    savingsRatio: sums.counterfactualCost > 0 ? savings / sums.counterfactualCost : null,
    errorRate: sums.requests > 0 ? sums.errors / sums.requests : null,
    slaMissRate: sums.requests > 0 ? sums.slaMisses / sums.requests : null,
  };
}

function zeroSums(): UsageSums {
  return Object.fromEntries(SUMMED.map((k) => [k, 0])) as unknown as UsageSums;
}

export function addSums(into: UsageSums, more: UsageSums): UsageSums {
  const out = { ...into } as Record<Summed, number>;
  for (const k of SUMMED) out[k] += more[k];
  return out;
}

function groupKey<G extends UsageGroupBy>(groupBy: G, key: string): UsageGroupKey[G] {
  const named =
    groupBy === "tenant"
      ? { tenantId: key }
      : groupBy === "variant"
        ? { variant: key === NO_VARIANT ? null : key }
        : { day: key };
  return named as UsageGroupKey[G];
}

export async function usageReport<G extends UsageGroupBy>(
  database: Database,
  query: UsageQuery<G>,
): Promise<UsageReport<G>> {
  assertDayRange(query.range);
  const column = GROUP_COLUMNS[query.groupBy];
  const inRange = between(dailyUsage.day, query.range.from, query.range.to);
  const rows = await database.orm
    .select({ key: column, ...sumsSelection() })
    .from(dailyUsage)
    .where(query.tenantId === undefined ? inRange : and(inRange, eq(dailyUsage.tenantId, query.tenantId)))
    .groupBy(column)
    .orderBy(asc(column));
  let totals = zeroSums();
  const groups = rows.map(({ key, ...sums }) => {
    totals = addSums(totals, sums);
    return { ...groupKey(query.groupBy, key), ...ratesOf(sums) } as UsageGroup<G>;
  });
  return {
    range: query.range,
    tenantId: query.tenantId ?? null,
    groupBy: query.groupBy,
    totals: ratesOf(totals),
    groups,
  };
}
