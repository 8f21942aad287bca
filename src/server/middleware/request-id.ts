/** `x-request-id` on every response: a valid incoming one is echoed, otherwise a new one is made. */
import type { MiddlewareHandler } from "hono";
import { newId } from "../ids.js";
import type { GatewayEnv } from "../types.js";

const VALID = /^[A-Za-z0-9._:/+=-]{1,128}$/;

export function requestId(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming !== undefined && VALID.test(incoming) ? incoming : newId("req_", 16);
    c.set("requestId", id);
    c.header("x-request-id", id);
    await next();
    c.res.headers.set("x-request-id", id);
  };
}
