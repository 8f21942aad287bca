/**
 * A tenant's latest routing decisions with their requests, newest first. Bounded three ways: a window
 * of recent days (partitions outside it are pruned), the tenant (`requests_tenant_created_idx`, read
 * backwards per partition) and a limit; each decision is found by its primary key, which is its
 * request's (request_id, created_at).
 */
import { and, desc, eq, gte, sql } from "drizzle-orm";
import type { Database } from "../open.js";
import { type RequestSelect, type RoutingDecisionSelect, requests, routingDecisions } from "../schema.js";
import { utcDayOf } from "./range.js";

export const MAX_DECISIONS = 1000;
export const DEFAULT_DECISIONS = 100;
/** Days looked back by default: today and the 6 before it. */
export const DEFAULT_DECISION_DAYS = 7;
/** At most a month back (the default retention keeps 30 days). */
export const MAX_DECISION_DAYS = 31;

export interface DecisionWindow {
  /** rows at most, 1..MAX_DECISIONS (default DEFAULT_DECISIONS) */
  readonly limit?: number;
  /** whole UTC days looked back, today included, 1..MAX_DECISION_DAYS (default DEFAULT_DECISION_DAYS) */
  readonly days?: number;
  /** the clock that says which day is today */
  readonly nowMs: number;
}

export interface RecentDecision {
  readonly request: RequestSelect;
  readonly decision: RoutingDecisionSelect;
}

function bounded(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new RangeError(`${name} must be an integer between 1 and ${max}`);
  return value;
}

/** `created_at` as ISO 8601 in UTC, whichever driver returned it (Postgres writes `2026-12-01 12:00:00+00`). */
function iso(timestamp: string): string {
  // Date.parse takes ISO 8601's `T` and `+00:00`, not Postgres' space and bare `+00`
  const written = timestamp.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00");
  const ms = Date.parse(written);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${timestamp}`);
  return new Date(ms).toISOString();
}

/**
 * The query itself (a builder: `recentDecisions` runs it, the plan test explains it). The tenant's
 * latest requests come first, as a subquery with its own limit, and each one's decision is then looked
 * up by key in a LATERAL subquery: the planner cannot turn that into a hash join over every decision
 * of the window, so the work is `limit` index lookups whatever the other tenants wrote.
 */
export function decisionsQuery(database: Database, tenantId: string, window: DecisionWindow) {
  const limit = bounded("limit", window.limit ?? DEFAULT_DECISIONS, MAX_DECISIONS);
  const days = bounded("days", window.days ?? DEFAULT_DECISION_DAYS, MAX_DECISION_DAYS);
  const since = `${utcDayOf(window.nowMs, -(days - 1))}T00:00:00.000Z`;
  const recent = database.orm
    .select()
    .from(requests)
    .where(and(eq(requests.tenantId, tenantId), gte(requests.createdAt, since)))
    .orderBy(desc(requests.createdAt), desc(requests.requestId))
    .limit(limit)
    .as("recent");
  const decision = database.orm
    .select()
    .from(routingDecisions)
    .where(
      and(
        eq(routingDecisions.requestId, recent.requestId),
        eq(routingDecisions.createdAt, recent.createdAt),
        // the window again, so that the planner prunes the decisions' old partitions too
        gte(routingDecisions.createdAt, since),
      ),
    )
    .limit(1)
    .as("decision");
  return database.orm
    .select({ request: recent._.selectedFields, decision: decision._.selectedFields })
    .from(recent)
    .innerJoinLateral(decision, sql`true`)
    .orderBy(desc(recent.createdAt), desc(recent.requestId));
}

export async function recentDecisions(
  database: Database,
  tenantId: string,
  window: DecisionWindow,
): Promise<RecentDecision[]> {
  const rows = await decisionsQuery(database, tenantId, window);
  return rows.map(({ request, decision }) => ({
    request: { ...request, createdAt: iso(request.createdAt) },
    decision: { ...decision, createdAt: iso(decision.createdAt) },
  }));
}
