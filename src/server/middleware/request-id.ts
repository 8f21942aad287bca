/** `x-request-id` on every response: a valid incoming one is echoed, otherwise a new one is made. */
import type { MiddlewareHandler } from "hono";
import { newId } from "../ids.js";
import { headerRecord, requestHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

const VALID = /^[A-Za-z0-9._:/+=-]{1,128}$/;

export function requestId(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const incoming = requestHeader(c, "x-request-id");
    const id = incoming !== undefined && VALID.test(incoming) ? incoming : newId("req_", 16);
    c.set("requestId", id);
    const record = headerRecord(c);
    record.values["x-request-id"] = id;
    await next();
    // a response built elsewhere (Hono's c.json in the health, models and admin routes) gets the record here
    if (!record.applied) for (const [name, value] of Object.entries(record.values)) c.res.headers.set(name, value);
  };
}
