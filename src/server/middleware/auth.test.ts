import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { MapDirectory, tierConfig } from "../testkit.js";
import type { GatewayEnv } from "../types.js";
import { adminAuth, auth, bearerKey } from "./auth.js";
import { expectOpenAIError } from "./testkit.js";

function tenantApp() {
  const directory = new MapDirectory([tierConfig({ name: "standard" })]);
  const key = directory.addTenant("acme", "standard");
  const app = new Hono<GatewayEnv>().use(auth(directory)).get("/", (c) => {
    const p = c.get("principal");
    return c.json({ tenant: p.tenant.id, tier: p.tier.name, keyId: p.keyId });
  });
  return { app, key, directory };
}

const get = (app: Hono<GatewayEnv>, authorization?: string) =>
  app.request("/", authorization === undefined ? {} : { headers: { authorization } });

const NO_KEY = { type: "invalid_request_error", code: "invalid_api_key", message: /^You didn't provide an API key\./ };

describe("bearerKey", () => {
  it("reads the key of `Bearer <key>`, any case, surrounding spaces allowed; nothing else", () => {
    expect(bearerKey("Bearer tg-abc")).toBe("tg-abc");
    expect(bearerKey("bearer   tg-abc  ")).toBe("tg-abc");
    for (const h of [undefined, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer a b", "tg-abc"]) {
      expect(bearerKey(h), JSON.stringify(h)).toBeUndefined();
    }
  });
});

describe("auth", () => {
  it("a known key hands the tenant's principal to the route", async () => {
    const { app, key } = tenantApp();
    const res = await get(app, `Bearer ${key}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ tenant: "acme", tier: "standard", keyId: "key_1" });
  });

  it("no key, or a header that is not Bearer auth, is a 401 saying how to send one", async () => {
    const { app, key } = tenantApp();
    for (const h of [undefined, "", `Basic ${key}`, key]) await expectOpenAIError(await get(app, h), 401, NO_KEY);
  });

  it("an unknown or revoked key is a 401 showing only the key's ends", async () => {
    const { app, key, directory } = tenantApp();
    const unknown = await get(app, "Bearer tg-0123456789abcdef");
    const error = await expectOpenAIError(unknown, 401, {
      type: "invalid_request_error",
      code: "invalid_api_key",
      message: /^Incorrect API key provided: tg-012…cdef\.$/,
    });
    expect(error.message).not.toContain("456789ab");
    await expectOpenAIError(await get(app, "Bearer short"), 401, {
      type: "invalid_request_error",
      code: "invalid_api_key",
      message: /^Incorrect API key provided: \*\*\*\*\.$/,
    });
    expect(directory.revokeKey("key_1")).toBe(true);
    await expectOpenAIError(await get(app, `Bearer ${key}`), 401, {
      type: "invalid_request_error",
      code: "invalid_api_key",
      message: /^Incorrect API key provided/,
    });
  });
});

describe("adminAuth", () => {
  const app = (token: string | undefined) =>
    new Hono<GatewayEnv>().use(adminAuth(token)).get("/", (c) => c.text("admin"));

  it("the admin token passes; any other bearer (a key of no directory it was given) is a 401", async () => {
    const ok = await get(app("admin-secret"), "Bearer admin-secret");
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("admin");
    const { key } = tenantApp();
    for (const h of [undefined, "Bearer admin-secre", "Bearer admin-secret2", `Bearer ${key}`]) {
      await expectOpenAIError(await get(app("admin-secret"), h), 401, {
        type: "invalid_request_error",
        code: "invalid_api_key",
        message: /^Invalid admin token\.$/,
      });
    }
  });

  it("given the tenant directory, a valid tenant key is a 403 (known, not allowed); a revoked one a 401", async () => {
    const { key, directory } = tenantApp();
    const guarded = new Hono<GatewayEnv>().use(adminAuth("admin-secret", directory)).get("/", (c) => c.text("admin"));
    await expectOpenAIError(await get(guarded, `Bearer ${key}`), 403, {
      type: "permission_error",
      code: "admin_only",
      message: /^A tenant key cannot use the admin API\.$/,
    });
    expect((await get(guarded, "Bearer admin-secret")).status).toBe(200);
    expect(directory.revokeKey("key_1")).toBe(true);
    await expectOpenAIError(await get(guarded, `Bearer ${key}`), 401, {
      type: "invalid_request_error",
      code: "invalid_api_key",
    });
  });

  it("without a configured token the admin surface does not exist: 404 whatever is sent", async () => {
    for (const token of [undefined, ""]) {
      for (const h of [undefined, "Bearer anything", "Bearer "]) {
        await expectOpenAIError(await get(app(token), h), 404, {
          type: "invalid_request_error",
          code: "not_found",
          message: /^Not found\.$/,
        });
      }
    }
  });
});
