/**
 * `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD[&group_by=variant|day]`: the calling tenant's own usage
 * and cost (from the daily rollup), per variant or per day. The tenant is the key's; a `tenant`
 * parameter naming any other is a 403, so no key can read another tenant's rows.
 */
import { Hono } from "hono";
import { ApiError, errorResponse } from "../errors.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";
import { groupOf, queryParams, rangeOf, readReport, reportBody } from "./report-params.js";

const PARAMS = ["from", "to", "group_by", "tenant"] as const;

const otherTenant = (own: string) =>
  new ApiError(
    403,
    `This key belongs to tenant ${own} and reads that tenant's usage only.`,
    "permission_error",
    "tenant_forbidden",
    "tenant",
  );

export function usageRoutes({ deps }: RouteServices): Hono<GatewayEnv> {
  const now = deps.now ?? Date.now;
  return new Hono<GatewayEnv>().get("/", async (c) => {
    try {
      const params = queryParams(c, PARAMS);
      const own = c.get("principal").tenant.id;
      if (params.tenant !== undefined && params.tenant !== own) throw otherTenant(own);
      const range = rangeOf(params, now());
      const groupBy = groupOf(params.group_by, ["variant", "day"], "variant");
      const report = await readReport(deps.reports, deps.log, (r) => r.usage({ range, tenantId: own, groupBy }));
      return c.json(reportBody(report));
    } catch (e) {
      return errorResponse(c, e);
    }
  });
}
