/**
 * Response headers as one plain record per request, and the responses built from it. Middleware and
 * routes add to the record as they learn things (`x-request-id`, `x-ratelimit-*`, routing headers);
 * the answer is built once with all of them. Hono's `c.header` writes a web `Headers`, which validates
 * every name and value and is sorted again when @hono/node-server writes it (~30 µs for the ~16
 * headers of an answer); a plain record goes straight to Node's `writeHead`.
 */
import type { Context } from "hono";
import type { GatewayEnv } from "./types.js";

export interface HeaderRecord {
  readonly values: Record<string, string>;
  /** set once a response was built from the record; otherwise `request-id` copies it onto the response */
  applied: boolean;
}

export function headerRecord(c: Context<GatewayEnv>): HeaderRecord {
  let record = c.get("headers");
  if (!record) {
    record = { values: {}, applied: false };
    c.set("headers", record);
  }
  return record;
}

/**
 * A request header (lower-case name). On @hono/node-server it is read from Node's own parsed
 * headers: the first `c.req.header()` builds a web `Headers` of every request header, validating each.
 */
export function requestHeader(c: Context<GatewayEnv>, name: string): string | undefined {
  // every value of a repeated header, joined as web Headers join them (Node's `headers` keeps only
  // the first of some, e.g. authorization)
  const incoming = (c.env as { incoming?: { headersDistinct?: Record<string, string[] | undefined> } } | undefined)
    ?.incoming?.headersDistinct;
  if (!incoming) return c.req.header(name);
  const values = incoming[name];
  return values === undefined ? undefined : values.length === 1 ? values[0] : values.join(", ");
}

export function setHeader(c: Context<GatewayEnv>, name: string, value: string): void {
  headerRecord(c).values[name] = value;
}

export function setHeaders(c: Context<GatewayEnv>, headers: Readonly<Record<string, string>>): void {
  Object.assign(headerRecord(c).values, headers);
}

/** A JSON answer with every header the request collected. */
export function jsonResponse(c: Context<GatewayEnv>, body: unknown, status = 200): Response {
  const record = headerRecord(c);
  record.applied = true;
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...record.values, "content-type": "application/json" },
  });
}

/** A body-less answer (499) or a stream, with every header the request collected. */
export function bodyResponse(
  c: Context<GatewayEnv>,
  body: ReadableStream<Uint8Array> | null,
  status: number,
): Response {
  const record = headerRecord(c);
  record.applied = true;
  return new Response(body, { status, headers: { ...record.values } });
}
