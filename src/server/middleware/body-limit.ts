/** Reads the request body once, refusing more than `maxBytes` with 413 before the rest arrives. */
import type { Context, MiddlewareHandler, Next } from "hono";
import { errorResponse, invalidRequest, tooLarge } from "../errors.js";
import type { GatewayEnv } from "../types.js";

export function bodyLimit(maxBytes: number): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > maxBytes) return errorResponse(c, tooLarge(maxBytes));
    // A declared length within the limit bounds the body (Node's parser reads exactly that many bytes),
    // so it is read in one go: on @hono/node-server, arrayBuffer() reads the socket directly, while
    // touching `.body` builds a whole web Request and stream per request.
    if (declared !== undefined && /^\d+$/.test(declared) && c.req.header("transfer-encoding") === undefined) {
      const bytes = await c.req.raw.arrayBuffer();
      if (bytes.byteLength > maxBytes) return errorResponse(c, tooLarge(maxBytes));
      return withText(c, utf8(new Uint8Array(bytes)), next);
    }
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
    return withText(c, utf8(Buffer.concat(chunks)), next);
  };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The body as text, or undefined when it is not valid UTF-8. */
function utf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function withText(c: Context<GatewayEnv>, text: string | undefined, next: Next) {
  if (text === undefined) return errorResponse(c, invalidRequest("The request body is not valid UTF-8."));
  c.set("rawBody", text);
  return next();
}
