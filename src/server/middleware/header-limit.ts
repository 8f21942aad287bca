/**
 * At most `maxHeaders` request headers (Node bounds their total size; this bounds their number, which
 * Node only truncates). Past it: 431 in OpenAI's shape, before any other work.
 */
import type { MiddlewareHandler } from "hono";
import { ApiError, errorResponse } from "../errors.js";
import { setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

export const DEFAULT_MAX_HEADERS = 200;

export function headerLimit(maxHeaders = DEFAULT_MAX_HEADERS): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    // Node's raw list counts repeated names; a plain Request (app.request in tests) has only the merged view
    const raw = (c.env as { incoming?: { rawHeaders?: readonly string[] } } | undefined)?.incoming?.rawHeaders;
    let count = raw ? raw.length / 2 : 0;
    if (!raw) for (const _ of c.req.raw.headers.keys()) count++;
    if (count > maxHeaders) {
      setHeader(c, "connection", "close");
      return errorResponse(
        c,
        new ApiError(
          431,
          `The request has ${count} headers; this server accepts at most ${maxHeaders}.`,
          "invalid_request_error",
          "too_many_headers",
        ),
      );
    }
    return next();
  };
}
