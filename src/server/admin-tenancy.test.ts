/**
 * The admin API over tenancy in the database, on PGlite and on the local Postgres (a fresh database per
 * test): real HTTP on loopback, the tiny variants on worker threads, the official client for tenant
 * requests, the generated admin token checked by its stored hash.
 */
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Database, ensureAdminToken, openDatabase, openTenancy, type Tenancy } from "../db/index.js";
import { everyTextValue, type TestDatabase, testDatabase } from "../db/testkit.js";
import type { VariantWorker } from "../engines/pool/index.js";
import { createMemoryRateLimiter, type TenancyConfig } from "../tenants/index.js";
import { createGateway } from "./app.js";
import { expectOpenAIError } from "./middleware/testkit.js";
import { type RunningServer, startServer } from "./serve.js";
import { memoryLog, served, startTinyWorkers, tierConfig } from "./testkit.js";

const SEED: TenancyConfig = {
  tiers: [tierConfig({ name: "standard" }), tierConfig({ name: "free", allowedVariants: ["tiny-b158"] })],
  tenants: [{ id: "acme", name: "Acme", tier: "standard", keys: [] }],
};
const REFRESH_MS = 200;

let workers: Record<string, VariantWorker>;
beforeAll(async () => {
  workers = await startTinyWorkers();
});
afterAll(async () => {
  await Promise.all(Object.values(workers).map((w) => w.close()));
});

interface Running {
  readonly url: string;
  readonly tenancy: Tenancy;
  readonly lines: string[];
}

/** Polls `probe` every 50 ms until it holds; fails after 10 s (a bound, not a timing assertion). */
async function eventually(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(["pglite", "postgres"] as const)("the admin API on %s", (driver) => {
  let db: TestDatabase;
  let token: string;
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
    await db?.dispose();
  });

  async function gateway(database: Database): Promise<Running> {
    const tenancy = await openTenancy({ database, config: SEED, refreshMs: REFRESH_MS });
    const log = memoryLog();
    const { app } = createGateway({
      directory: tenancy.directory,
      tenancy: tenancy.admin,
      limiter: createMemoryRateLimiter(),
      variants: served(workers),
      adminToken: { sha256: () => tenancy.directory.adminTokenHash() },
      log,
    });
    const server: RunningServer = await startServer(app, { host: "127.0.0.1", port: 0, log });
    cleanup.push(
      () => tenancy.close(),
      async () => {
        await server.close();
      },
    );
    return { url: server.url, tenancy, lines: log.lines };
  }

  async function start(): Promise<Running> {
    db = await testDatabase(driver);
    const running = await gateway(db.database);
    token = (await ensureAdminToken(db.database)) ?? "";
    await running.tenancy.directory.reload();
    return running;
  }

  const admin = (url: string, method: string, path: string, body?: unknown, bearer = token) =>
    fetch(`${url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("creates, reads, updates and deletes tiers and tenants, with 400 and 409 where they belong", async () => {
    const { url } = await start();
    const gold = { name: "gold", qualityFloor: 0.9, ttftSlaMs: 500, totalSlaMs: 4000, onOverload: "queue" };
    const limits = { requestsPerMinute: 60, tokensPerMinute: 100_000, maxOutputTokens: 64 };
    const made = await admin(url, "POST", "/tiers", { ...gold, ...limits });
    expect(made.status).toBe(201);
    const tier = (await made.json()) as Record<string, unknown>;
    // the config's defaults apply, and "*" (the default) is every served variant
    expect(tier).toMatchObject({
      object: "tier",
      ...gold,
      strategy: "sla",
      allowedVariants: ["tiny-b158", "tiny-fp32"],
    });
    await expectOpenAIError(await admin(url, "POST", "/tiers", { ...gold, ...limits }), 409, {
      type: "invalid_request_error",
      code: "conflict",
      param: "name",
    });
    await expectOpenAIError(await admin(url, "POST", "/tiers", { ...gold, ...limits, qualityFloor: 2 }), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "qualityFloor",
    });
    await expectOpenAIError(await admin(url, "POST", "/tiers", { ...gold, ...limits, colour: "red" }), 400, {
      type: "invalid_request_error",
      code: "unknown_parameter",
      param: "colour",
    });
    await expectOpenAIError(
      await admin(url, "POST", "/tiers", { ...gold, ...limits, name: "x", allowedVariants: ["gpt-4"] }),
      400,
      { type: "invalid_request_error", code: "unknown_variant", param: "allowedVariants", message: /gpt-4/ },
    );
    const patched = await admin(url, "PATCH", "/tiers/gold", { requestsPerMinute: 5, allowedVariants: ["tiny-fp32"] });
    expect(patched.status).toBe(200);
    // only the named fields change: the schema's defaults do not overwrite the rest
    expect(await patched.json()).toMatchObject({ ...gold, requestsPerMinute: 5, allowedVariants: ["tiny-fp32"] });
    await expectOpenAIError(await admin(url, "PATCH", "/tiers/none", { priority: 1 }), 404, {
      type: "invalid_request_error",
      code: "not_found",
    });
    const tiers = (await (await admin(url, "GET", "/tiers")).json()) as { data: { name: string }[] };
    expect(tiers.data.map((t) => t.name).sort()).toEqual(["free", "gold", "standard"]);

    await expectOpenAIError(
      await admin(url, "POST", "/tenants", { id: "initech", name: "Initech", tier: "platinum" }),
      400,
      { type: "invalid_request_error", code: "unknown_tier", param: "tier" },
    );
    const tenant = await admin(url, "POST", "/tenants", { id: "initech", name: "Initech", tier: "gold" });
    expect(tenant.status).toBe(201);
    expect(await tenant.json()).toEqual({ object: "tenant", id: "initech", name: "Initech", tier: "gold" });
    expect((await admin(url, "POST", "/tenants", { id: "initech", name: "X", tier: "gold" })).status).toBe(409);
    await expectOpenAIError(await admin(url, "POST", "/tenants", { id: "a b", name: "X", tier: "gold" }), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "id",
    });
    await expectOpenAIError(await admin(url, "DELETE", "/tiers/gold"), 409, {
      type: "invalid_request_error",
      code: "tier_in_use",
    });
    await expectOpenAIError(await admin(url, "PATCH", "/tenants/initech", { tier: "nope" }), 400, {
      type: "invalid_request_error",
      code: "unknown_tier",
      param: "tier",
    });
    expect(await (await admin(url, "PATCH", "/tenants/initech", { tier: "free" })).json()).toMatchObject({
      tier: "free",
    });
    expect((await admin(url, "GET", "/tenants/initech")).status).toBe(200);
    expect((await admin(url, "DELETE", "/tiers/gold")).status).toBe(200);
    expect((await admin(url, "GET", "/tiers/gold")).status).toBe(404);
    expect(await (await admin(url, "DELETE", "/tenants/initech")).json()).toEqual({
      object: "tenant",
      id: "initech",
      deleted: true,
    });
    expect((await admin(url, "GET", "/tenants/initech")).status).toBe(404);
    expect((await admin(url, "DELETE", "/tenants/initech")).status).toBe(404);
  });

  it("a created key answers a real request, is listed by prefix only, and is refused once revoked", async () => {
    const { url, lines } = await start();
    const made = await admin(url, "POST", "/tenants/acme/keys");
    expect(made.status).toBe(201);
    const created = (await made.json()) as { id: string; key: string; prefix: string; tenantId: string };
    expect(created.key).toMatch(/^tg-[A-Za-z0-9_-]{32}$/);
    expect(created.prefix).toBe(created.key.slice(0, 9));
    expect((await admin(url, "POST", "/tenants/nobody/keys")).status).toBe(404);

    const client = new OpenAI({ apiKey: created.key, baseURL: `${url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: "auto",
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 4,
    });
    expect(answer.choices[0]?.message.content).toBeTypeOf("string");

    const listed = JSON.stringify(await (await admin(url, "GET", "/tenants/acme/keys")).json());
    expect(listed).toContain(created.prefix);
    expect(listed).not.toContain(created.key.slice(9));
    expect(listed).not.toMatch(/"(key|hash)"/);
    expect(JSON.stringify(await (await admin(url, "GET", "/keys")).json())).toContain(created.id);

    const revoked = await admin(url, "DELETE", `/keys/${created.id}`);
    expect(await revoked.json()).toMatchObject({ id: created.id, revoked: true });
    expect((await admin(url, "DELETE", "/keys/key_0000000000000000")).status).toBe(404);
    await expect(client.models.list()).rejects.toMatchObject({ status: 401 });

    const everything = await everyTextValue(db.database);
    for (const secret of [created.key, created.key.slice(9), token, token.slice(12)]) {
      expect(everything).not.toContain(secret);
      expect(lines.join("\n")).not.toContain(secret);
    }
  });

  it("answers 403 to a tenant key, 401 to a wrong token and to none, on every admin route, in OpenAI's shape", async () => {
    const { url } = await start();
    const key = ((await (await admin(url, "POST", "/tenants/acme/keys")).json()) as { key: string }).key;
    const routes: [string, string][] = [
      ["GET", "/decisions"],
      ["GET", "/tiers"],
      ["POST", "/tiers"],
      ["GET", "/tiers/standard"],
      ["PATCH", "/tiers/standard"],
      ["DELETE", "/tiers/standard"],
      ["GET", "/tenants"],
      ["POST", "/tenants"],
      ["GET", "/tenants/acme"],
      ["PATCH", "/tenants/acme"],
      ["DELETE", "/tenants/acme"],
      ["POST", "/tenants/acme/keys"],
      ["GET", "/tenants/acme/keys"],
      ["GET", "/keys"],
      ["DELETE", "/keys/key_0000000000000000"],
    ];
    for (const [method, path] of routes) {
      for (const bearer of [key, "tgadmin-wrong", ""]) {
        const res = await admin(url, method, path, method === "GET" || method === "DELETE" ? undefined : {}, bearer);
        expect(res.headers.get("x-request-id")).toMatch(/\S/);
        // a valid tenant key is known and not allowed here (403); anything else is not a credential (401)
        if (bearer === key) await expectOpenAIError(res, 403, { type: "permission_error", code: "admin_only" });
        else await expectOpenAIError(res, 401, { type: "invalid_request_error", code: "invalid_api_key" });
      }
    }
    // the admin token is no tenant key either
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await admin(url, "GET", "/tenants/acme")).status).toBe(200); // nothing was deleted
  });

  it("a key created and revoked through one gateway is seen by another on the same database", async () => {
    const first = await start();
    // Postgres: a second replica with its own pool; PGlite is one process's database, so the second
    // gateway shares the handle
    const other = driver === "postgres" ? await openDatabase({ url: db.url, stateDir: db.stateDir }) : db.database;
    if (driver === "postgres") cleanup.unshift(() => other.close());
    const second = await gateway(other);
    const created = (await (await admin(first.url, "POST", "/tenants/acme/keys")).json()) as {
      id: string;
      key: string;
    };
    const models = (url: string) =>
      fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${created.key}` } }).then((r) => r.status);
    await eventually(async () => (await models(second.url)) === 200, "the second gateway to accept the key");
    await admin(first.url, "DELETE", `/keys/${created.id}`);
    expect(await models(first.url)).toBe(401);
    await eventually(async () => (await models(second.url)) === 401, "the second gateway to refuse the key");
  });
});
