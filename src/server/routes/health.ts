/**
 * `GET /health/live` (the process answers) and `GET /health/ready`: 200 while at least one variant can
 * serve (its worker is ready and its breaker lets requests through), else 503 so a load balancer
 * sends traffic elsewhere.
 */
import { Hono } from "hono";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";

export function healthRoutes({ gateway }: RouteServices): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .get("/live", (c) => c.json({ status: "ok" }))
    .get("/ready", (c) => {
      const now = gateway.now();
      const variants = gateway.states.all().map(({ config, worker }) => ({
        name: config.name,
        family: config.family,
        engine: config.engine,
        state: worker.state,
        error: worker.error ?? null,
        running: worker.running,
        waiting: worker.waiting,
        breaker: gateway.states.breaker(config.name, now)?.state ?? "closed",
      }));
      const ready = gateway.states.canServe(now);
      if (!ready) c.header("x-should-retry", "true");
      return c.json({ status: ready ? "ready" : "unavailable", variants }, ready ? 200 : 503);
    });
}
