/**
 * Reports over what the recorder writes: usage and cost from `daily_usage`, and a tenant's recent
 * decisions. `createReports(database)` is what the server is given (`AppDeps.reports`).
 */
import type { Database } from "../open.js";
import { type DecisionWindow, type RecentDecision, recentDecisions } from "./decisions.js";
import { type UsageGroupBy, type UsageQuery, type UsageReport, usageReport } from "./usage.js";

export {
  DEFAULT_DECISION_DAYS,
  DEFAULT_DECISIONS,
  type DecisionWindow,
  MAX_DECISION_DAYS,
  MAX_DECISIONS,
  type RecentDecision,
} from "./decisions.js";
export { type DayRange, DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, parseDayRange, type RangeResult } from "./range.js";
export {
  SUMMED,
  type UsageFigures,
  type UsageGroup,
  type UsageGroupBy,
  type UsageQuery,
  type UsageRates,
  type UsageReport,
  type UsageSums,
} from "./usage.js";

export interface Reports {
  usage<G extends UsageGroupBy>(query: UsageQuery<G>): Promise<UsageReport<G>>;
  recentDecisions(tenantId: string, window: DecisionWindow): Promise<RecentDecision[]>;
}

export function createReports(database: Database): Reports {
  return {
    usage: (query) => usageReport(database, query),
    recentDecisions: (tenantId, window) => recentDecisions(database, tenantId, window),
  };
}
