/** `Authorization: Bearer tg-…` → the tenant's principal, or 401 in OpenAI's shape. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { hashesEqual, type TenantDirectory } from "../../tenants/index.js";
import { errorResponse, forbidden, invalidApiKey, notFound } from "../errors.js";
import { requestHeader, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

export function bearerKey(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

export function auth(directory: TenantDirectory): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const key = bearerKey(requestHeader(c, "authorization"));
    if (key === undefined) {
      return errorResponse(
        c,
        invalidApiKey(
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ),
      );
    }
    const principal = directory.authenticate(key);
    if (!principal) {
      const shown = key.length > 10 ? `${key.slice(0, 6)}…${key.slice(-4)}` : "****";
      return errorResponse(c, invalidApiKey(`Incorrect API key provided: ${shown}.`));
    }
    c.set("principal", principal);
    return next();
  };
}

/**
 * Where the admin token is checked against: a token given as is (the environment's, a test's) or a
 * source of the current SHA-256 of one (the generated token, whose hash the database keeps). Either
 * way the guard compares hashes, in constant time.
 */
export type AdminToken = string | { readonly sha256: () => string | undefined };

/**
 * The admin token guard: never a tenant key (a valid one is told 403: it is known, and not allowed
 * here). No token = the admin surface does not exist.
 */
export function adminAuth(token: AdminToken | undefined, directory?: TenantDirectory): MiddlewareHandler<GatewayEnv> {
  const fixed = typeof token === "string" && token !== "" ? sha256(token) : undefined;
  const expected = () => (typeof token === "object" ? token.sha256() : fixed);
  return async (c, next) => {
    const hash = expected();
    if (hash === undefined) return errorResponse(c, notFound("Not found."));
    const given = bearerKey(requestHeader(c, "authorization"));
    const admin = given !== undefined && hashesEqual(sha256(given), hash);
    if (given !== undefined && !admin && directory?.authenticate(given))
      return errorResponse(c, forbidden("A tenant key cannot use the admin API.", "admin_only"));
    if (!admin) return errorResponse(c, invalidApiKey("Invalid admin token."));
    return next();
  };
}

/** The password of `Authorization: Basic base64(user:password)` (it may itself hold colons). */
function basicPassword(header: string | undefined): string | undefined {
  const encoded = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i)?.[1];
  if (encoded === undefined) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The observability token guard for `/metrics`, `/ui` and `/dashboards`: `Authorization: Bearer TOKEN`
 * (Prometheus' `authorization` setting) or Basic with TOKEN as the password (any user name), which
 * browsers ask for on their own. Unset token = open.
 */
export function observabilityAuth(token: string | undefined): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    if (!token) return next();
    const header = requestHeader(c, "authorization");
    const given = bearerKey(header) ?? basicPassword(header);
    if (given !== undefined && safeEqual(given, token)) return next();
    setHeader(c, "www-authenticate", 'Basic realm="tritgate observability", charset="UTF-8"');
    return errorResponse(c, invalidApiKey("This endpoint needs the observability token."));
  };
}
