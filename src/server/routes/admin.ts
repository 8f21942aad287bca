/**
 * The admin surface (admin token only): the in-memory decision log, and — when the gateway has tenancy
 * in a database — tiers, tenants and keys (`admin-tenancy.ts`).
 */
import { Hono } from "hono";
import type { TenancyAdmin } from "../../tenants/index.js";
import type { VariantVersions } from "../canary/versions.js";
import { errorResponse, invalidRequest } from "../errors.js";
import type { RecordedEntry } from "../recorder.js";
import type { GatewayEnv } from "../types.js";
import { tenancyRoutes } from "./admin-tenancy.js";
import { adminUsageRoutes } from "./admin-usage.js";
import { variantAdminRoutes } from "./admin-variants.js";
import type { RouteServices } from "./context.js";

export interface AdminRoutesOptions {
  readonly latest: ((limit: number) => RecordedEntry[]) | undefined;
  readonly tenancy: TenancyAdmin | undefined;
  /** the served variants' names (what a tier may allow) */
  readonly variants: () => readonly string[];
  /** the model registry's versions and canaries (`/admin/variants`) */
  readonly versions?: VariantVersions | undefined;
  /** what the usage reports read (`/admin/usage`, `/admin/tenants/:id/decisions`) */
  readonly services: Pick<RouteServices, "deps">;
}

export function adminRoutes({ latest, tenancy, variants, versions, services }: AdminRoutesOptions): Hono<GatewayEnv> {
  const routes = new Hono<GatewayEnv>()
    .route("/", adminUsageRoutes(services))
    .route("/variants", variantAdminRoutes(versions))
    .get("/decisions", (c) => {
      const raw = c.req.query("limit") ?? "100";
      const limit = Number(raw);
      if (!/^\d+$/.test(raw) || limit < 1 || limit > 10_000) {
        return errorResponse(c, invalidRequest("limit must be an integer between 1 and 10000", "limit"));
      }
      const data = latest ? latest(limit) : [];
      return c.json({ object: "list", data });
    });
  return tenancy ? routes.route("/", tenancyRoutes({ tenancy, variants })) : routes;
}
