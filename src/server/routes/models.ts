/** `GET /v1/models` and `GET /v1/models/{id}`: what the caller's tier may ask for. */
import { Hono } from "hono";
import { errorResponse, modelNotFound } from "../errors.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";

/** Models exist since the server started, as far as clients can tell. */
const CREATED = Math.floor(Date.now() / 1000);

export function modelsRoutes({ gateway }: RouteServices): Hono<GatewayEnv> {
  const model = (id: string) => {
    const variant = gateway.variant(id);
    return {
      id,
      object: "model",
      created: CREATED,
      owned_by: "tritgate",
      ...(variant
        ? { family: variant.config.family, engine: variant.config.engine, quality: variant.config.quality }
        : {}),
    };
  };
  return new Hono<GatewayEnv>()
    .get("/", (c) => c.json({ object: "list", data: gateway.visibleModels(c.get("principal").tier).map(model) }))
    .get("/:id{.+}", (c) => {
      const id = c.req.param("id");
      if (!gateway.visibleModels(c.get("principal").tier).includes(id)) return errorResponse(c, modelNotFound(id));
      return c.json(model(id));
    });
}
