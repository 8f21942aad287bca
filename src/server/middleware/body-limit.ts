/** Reads the request body once, refusing more than `maxBytes` with 413 before the rest arrives. */
import type { MiddlewareHandler } from "hono";
import { errorResponse, invalidRequest, tooLarge } from "../errors.js";
import type { GatewayEnv } from "../types.js";

export function bodyLimit(maxBytes: number): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > maxBytes) return errorResponse(c, tooLarge(maxBytes));
    const body = c.req.raw.body;
    if (!body) {
      c.set("rawBody", "");
      return next();
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return errorResponse(c, tooLarge(maxBytes));
      }
      chunks.push(value);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
    } catch {
      return errorResponse(c, invalidRequest("The request body is not valid UTF-8."));
    }
    c.set("rawBody", text);
    return next();
  };
}
