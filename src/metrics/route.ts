/** `GET /metrics`: the gateway's registry in Prometheus text format, to mount with `app.route("/metrics", …)`. */
import { Hono } from "hono";
import type { Registry } from "prom-client";

export function metricsRoute(registry: Registry): Hono {
  return new Hono().get("/", async (c) => {
    const body = await registry.metrics();
    return c.body(body, 200, { "content-type": registry.contentType });
  });
}
