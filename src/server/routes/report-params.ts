/**
 * What the usage routes share: query parameters checked (unknown or repeated ones refused by name),
 * the day range and grouping, the report rendered as JSON, and the two ways a report can be missing —
 * no database given to this gateway (501, not retried) or the database not answering (503, retried).
 */
import type { Context } from "hono";
import type { DayRange, Reports, UsageGroupBy, UsageReport } from "../../db/index.js";
import { parseDayRange } from "../../db/index.js";
import { ApiError, invalidRequest, unavailable } from "../errors.js";
import type { Logger } from "../log.js";
import type { GatewayEnv } from "../types.js";

export type Params<K extends string> = Partial<Record<K, string>>;

/** The query's parameters, each given at most once and each one of `allowed`. */
export function queryParams<K extends string>(c: Context<GatewayEnv>, allowed: readonly K[]): Params<K> {
  const all = c.req.queries();
  const out: Params<K> = {};
  for (const [name, values] of Object.entries(all)) {
    if (!(allowed as readonly string[]).includes(name))
      throw invalidRequest(
        `Unrecognized query parameter: ${name}. This route takes ${allowed.join(", ")}.`,
        name,
        "unknown_parameter",
      );
    if (values.length !== 1)
      throw invalidRequest(`${name} is given ${values.length} times; give it once.`, name, "invalid_value");
    out[name as K] = values[0];
  }
  return out;
}

export function rangeOf(params: Params<"from" | "to">, nowMs: number): DayRange {
  const result = parseDayRange(params.from, params.to, nowMs);
  if (!result.ok) throw invalidRequest(result.message, result.param, "invalid_value");
  return result.range;
}

export function groupOf<G extends UsageGroupBy>(given: string | undefined, allowed: readonly G[], fallback: G): G {
  if (given === undefined) return fallback;
  if ((allowed as readonly string[]).includes(given)) return given as G;
  throw invalidRequest(`group_by must be one of ${allowed.join(", ")}, got '${given}'.`, "group_by", "invalid_value");
}

/** An integer parameter in [1, max], or `fallback` when absent. */
export function countOf(name: string, given: string | undefined, max: number, fallback: number): number {
  if (given === undefined) return fallback;
  const n = Number(given);
  if (!/^\d+$/.test(given) || n < 1 || n > max)
    throw invalidRequest(`${name} must be an integer between 1 and ${max}, got '${given}'.`, name, "invalid_value");
  return n;
}

/** 501: the feature needs a database and this gateway has none (a setup fact, so clients must not retry). */
export const reportsNotConfigured = () =>
  new ApiError(
    501,
    "Usage reports read the gateway's database, and this gateway was started without one.",
    "server_error",
    "reports_unavailable",
    null,
    { "x-should-retry": "false" },
  );

/** Runs a report; the database failing becomes a 503 the client may retry (its cause is logged, not sent). */
export async function readReport<T>(
  reports: Reports | undefined,
  log: Logger | undefined,
  read: (reports: Reports) => Promise<T>,
): Promise<T> {
  if (!reports) throw reportsNotConfigured();
  try {
    return await read(reports);
  } catch (e) {
    log?.warn(`usage report failed: ${(e as Error).message}`);
    throw unavailable("The usage database did not answer; try again shortly.", 1, "database_unavailable");
  }
}

/** The report as the routes send it: the figures under the schema's names, the group key in each row. */
export function reportBody<G extends UsageGroupBy>(report: UsageReport<G>) {
  return {
    object: "usage.report",
    tenant: report.tenantId,
    from: report.range.from,
    to: report.range.to,
    groupBy: report.groupBy,
    totals: report.totals,
    data: report.groups,
  };
}
