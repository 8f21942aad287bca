/**
 * Admin reports (behind the admin token, mounted by `admin.ts`):
 * - `GET /admin/usage?tenant=ID&from&to[&group_by=tenant|variant|day]`: every tenant's usage, one row
 *   per tenant (the default), or one tenant's (`tenant`), per variant by default;
 * - `GET /admin/usage/variants?from&to`: every tenant's usage per variant;
 * - `GET /admin/tenants/:id/decisions?limit=&days=`: the tenant's latest decisions with their candidates
 *   and requests, newest first.
 */
import { Hono } from "hono";
import { DEFAULT_DECISION_DAYS, DEFAULT_DECISIONS, MAX_DECISION_DAYS, MAX_DECISIONS } from "../../db/index.js";
import { errorResponse, invalidRequest } from "../errors.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";
import { countOf, groupOf, queryParams, rangeOf, readReport, reportBody } from "./report-params.js";

const GROUPS = ["tenant", "variant", "day"] as const;

export function adminUsageRoutes({ deps }: Pick<RouteServices, "deps">): Hono<GatewayEnv> {
  const now = deps.now ?? Date.now;
  return new Hono<GatewayEnv>()
    .get("/usage", async (c) => {
      try {
        const params = queryParams(c, ["tenant", "from", "to", "group_by"]);
        if (params.tenant === "")
          throw invalidRequest("tenant must name a tenant when given.", "tenant", "invalid_value");
        const range = rangeOf(params, now());
        const groupBy = groupOf(params.group_by, GROUPS, params.tenant === undefined ? "tenant" : "variant");
        const report = await readReport(deps.reports, deps.log, (r) =>
          r.usage({ range, tenantId: params.tenant, groupBy }),
        );
        return c.json(reportBody(report));
      } catch (e) {
        return errorResponse(c, e);
      }
    })
    .get("/usage/variants", async (c) => {
      try {
        const range = rangeOf(queryParams(c, ["from", "to"]), now());
        const report = await readReport(deps.reports, deps.log, (r) => r.usage({ range, groupBy: "variant" }));
        return c.json(reportBody(report));
      } catch (e) {
        return errorResponse(c, e);
      }
    })
    .get("/tenants/:id/decisions", async (c) => {
      try {
        const tenantId = c.req.param("id");
        const params = queryParams(c, ["limit", "days"]);
        const limit = countOf("limit", params.limit, MAX_DECISIONS, DEFAULT_DECISIONS);
        const days = countOf("days", params.days, MAX_DECISION_DAYS, DEFAULT_DECISION_DAYS);
        const data = await readReport(deps.reports, deps.log, (r) =>
          r.recentDecisions(tenantId, { limit, days, nowMs: now() }),
        );
        return c.json({ object: "list", tenant: tenantId, days, data });
      } catch (e) {
        return errorResponse(c, e);
      }
    });
}
