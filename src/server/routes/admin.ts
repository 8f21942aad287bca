/** Admin surface (admin token only): the in-memory decision log. */
import { Hono } from "hono";
import { errorResponse, invalidRequest } from "../errors.js";
import type { RecordedEntry } from "../recorder.js";
import type { GatewayEnv } from "../types.js";
import { adminUsageRoutes } from "./admin-usage.js";
import type { RouteServices } from "./context.js";

export function adminRoutes(
  latest: ((limit: number) => RecordedEntry[]) | undefined,
  services: Pick<RouteServices, "deps">,
): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().route("/", adminUsageRoutes(services)).get("/decisions", (c) => {
    const raw = c.req.query("limit") ?? "100";
    const limit = Number(raw);
    if (!/^\d+$/.test(raw) || limit < 1 || limit > 10_000) {
      return errorResponse(c, invalidRequest("limit must be an integer between 1 and 10000", "limit"));
    }
    const data = latest ? latest(limit) : [];
    return c.json({ object: "list", data });
  });
}
