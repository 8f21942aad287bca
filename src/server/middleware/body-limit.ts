/**
 * Reads the request body once, refusing more than `maxBytes` with 413 before the rest arrives. A 413
 * closes the connection (`connection: close`): the unread rest of the body would otherwise be taken
 * for the next request on a keep-alive connection. A client that hangs up mid-upload is one debug line.
 */
import type { Context, MiddlewareHandler, Next } from "hono";
import { errorResponse, invalidRequest, tooLarge } from "../errors.js";
import type { Logger } from "../log.js";
import { requestHeader, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

export function bodyLimit(maxBytes: number, log: Logger): MiddlewareHandler<GatewayEnv> {
  const refuse = (c: Context<GatewayEnv>) => {
    setHeader(c, "connection", "close");
    return errorResponse(c, tooLarge(maxBytes));
  };
  return async (c, next) => {
    const declared = requestHeader(c, "content-length");
    if (declared !== undefined && Number(declared) > maxBytes) return refuse(c);
    let text: string | undefined;
    try {
      const bytes = await readBody(c, declared, maxBytes);
      if (bytes === "too large") return refuse(c);
      if (bytes === null) {
        c.set("rawBody", "");
        return next();
      }
      text = utf8(bytes);
    } catch (e) {
      // the client went away (or broke the framing) while sending: nothing can be answered to it
      const why = e instanceof Error ? e.message : String(e);
      log.debug(`${c.get("requestId") ?? "-"} client hung up before the request was complete (${why})`);
      setHeader(c, "connection", "close");
      return errorResponse(c, invalidRequest("The request body ended before it was complete."));
    }
    return withText(c, text, next);
  };
}

async function readBody(
  c: Context<GatewayEnv>,
  declared: string | undefined,
  maxBytes: number,
): Promise<Uint8Array | null | "too large"> {
  // A declared length within the limit bounds the body (Node's parser reads exactly that many bytes),
  // so it is read in one go: on @hono/node-server, arrayBuffer() reads the socket directly, while
  // touching `.body` builds a whole web Request and stream per request.
  if (declared !== undefined && /^\d+$/.test(declared) && requestHeader(c, "transfer-encoding") === undefined) {
    const bytes = new Uint8Array(await c.req.raw.arrayBuffer());
    return bytes.byteLength > maxBytes ? "too large" : bytes;
  }
  const body = c.req.raw.body;
  if (!body) return null;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return "too large";
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
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
