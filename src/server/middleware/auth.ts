/** `Authorization: Bearer tg-…` → the tenant's principal, or 401 in OpenAI's shape. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { TenantDirectory } from "../../tenants/index.js";
import { errorResponse, forbidden, invalidApiKey, notFound } from "../errors.js";
import { requestHeader } from "../response.js";
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
 * The admin token guard: never a tenant key (a valid one is told 403: it is known, and not allowed
 * here). Unset token = the admin surface does not exist.
 */
export function adminAuth(token: string | undefined, directory?: TenantDirectory): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    if (!token) return errorResponse(c, notFound("Not found."));
    const given = bearerKey(requestHeader(c, "authorization"));
    if (given !== undefined && !safeEqual(given, token) && directory?.authenticate(given))
      return errorResponse(c, forbidden("A tenant key cannot use the admin API.", "admin_only"));
    if (given === undefined || !safeEqual(given, token)) return errorResponse(c, invalidApiKey("Invalid admin token."));
    return next();
  };
}

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}
