/**
 * /admin/tiers, /admin/tenants and their keys: CRUD over `TenancyAdmin` (the database's). A created
 * key is in its response once; every other answer shows a key's display prefix only.
 */
import { type Context, Hono } from "hono";
import type { ApiKeyRecord, TenancyAdmin, Tenant, TierConfig } from "../../tenants/index.js";
import { conflict, errorResponse, invalidRequest, notFound } from "../errors.js";
import { validateJson } from "../middleware/validate.js";
import { tenantCreateSchema, tenantUpdateSchema, tierCreateSchema, tierUpdateSchema } from "../schemas/admin.js";
import type { GatewayEnv } from "../types.js";

const ALL_VARIANTS = "*";

function tierBody(tier: TierConfig) {
  return { object: "tier", ...tier };
}

function tenantBody(tenant: Tenant) {
  return { object: "tenant", ...tenant };
}

function keyBody(record: ApiKeyRecord) {
  return {
    object: "api_key",
    id: record.id,
    tenantId: record.tenantId,
    prefix: record.prefix,
    createdAt: record.createdAt.toISOString(),
    revokedAt: record.revokedAt ? record.revokedAt.toISOString() : null,
  };
}

const list = <T>(data: readonly T[]) => ({ object: "list", data });

const noTier = (name: string) => notFound(`No tier named "${name}".`);
const noTenant = (id: string) => notFound(`No tenant with id "${id}".`);
const unknownTier = (name: string | undefined) =>
  invalidRequest(`Unknown tier "${name ?? ""}": create it first (POST /admin/tiers).`, "tier", "unknown_tier");

/** The top-level fields the JSON body actually names (a PATCH changes those, not the schema's defaults). */
function presentFields(c: Context<GatewayEnv>): ReadonlySet<string> {
  return new Set(Object.keys(JSON.parse(c.get("rawBody")) as object));
}

export interface TenancyRoutesOptions {
  readonly tenancy: TenancyAdmin;
  /** the served variants' names: what `allowedVariants` may name, and what `"*"` stands for */
  readonly variants: () => readonly string[];
}

export function tenancyRoutes({ tenancy, variants }: TenancyRoutesOptions): Hono<GatewayEnv> {
  /** `"*"` expanded; undefined when a name is not served (the caller answers 400). */
  function resolveVariants(given: "*" | readonly string[]): readonly string[] | { unknown: string } {
    const served = variants();
    if (given === ALL_VARIANTS) return [...served];
    const unknown = given.find((v) => !served.includes(v));
    return unknown === undefined ? [...given] : { unknown };
  }
  const unknownVariant = (name: string) =>
    invalidRequest(
      `allowedVariants names "${name}", which this gateway does not serve (it serves: ${variants().join(", ") || "none"}).`,
      "allowedVariants",
      "unknown_variant",
    );

  return new Hono<GatewayEnv>()
    .get("/tiers", async (c) => c.json(list((await tenancy.listTiers()).map(tierBody))))
    .post("/tiers", validateJson(tierCreateSchema), async (c) => {
      const body = c.req.valid("json");
      const allowed = resolveVariants(body.allowedVariants);
      if ("unknown" in allowed) return errorResponse(c, unknownVariant(allowed.unknown));
      const tier: TierConfig = { ...body, allowedVariants: allowed };
      const done = await tenancy.createTier(tier);
      if (done === "exists") return errorResponse(c, conflict(`A tier named "${tier.name}" exists.`, "name"));
      return c.json(tierBody(tier), 201);
    })
    .get("/tiers/:name", async (c) => {
      const tier = await tenancy.getTier(c.req.param("name"));
      return tier ? c.json(tierBody(tier)) : errorResponse(c, noTier(c.req.param("name")));
    })
    .patch("/tiers/:name", validateJson(tierUpdateSchema), async (c) => {
      const name = c.req.param("name");
      const present = presentFields(c);
      const parsed = c.req.valid("json");
      const update = Object.fromEntries(Object.entries(parsed).filter(([k]) => present.has(k))) as Partial<
        typeof parsed
      >;
      let allowedVariants: readonly string[] | undefined;
      if (update.allowedVariants !== undefined) {
        const allowed = resolveVariants(update.allowedVariants);
        if ("unknown" in allowed) return errorResponse(c, unknownVariant(allowed.unknown));
        allowedVariants = allowed;
      }
      const { allowedVariants: _given, ...rest } = update;
      const done = await tenancy.updateTier(name, { ...rest, ...(allowedVariants ? { allowedVariants } : {}) });
      if (done === "not_found") return errorResponse(c, noTier(name));
      const tier = await tenancy.getTier(name);
      return tier ? c.json(tierBody(tier)) : errorResponse(c, noTier(name));
    })
    .delete("/tiers/:name", async (c) => {
      const name = c.req.param("name");
      const done = await tenancy.deleteTier(name);
      if (done === "not_found") return errorResponse(c, noTier(name));
      if (done === "in_use")
        return errorResponse(
          c,
          conflict(`Tier "${name}" still has tenants; move or delete them first.`, null, "tier_in_use"),
        );
      return c.json({ object: "tier", name, deleted: true });
    })

    .get("/tenants", async (c) => c.json(list((await tenancy.listTenants()).map(tenantBody))))
    .post("/tenants", validateJson(tenantCreateSchema), async (c) => {
      const tenant = c.req.valid("json");
      const done = await tenancy.createTenant(tenant);
      if (done === "unknown_tier") return errorResponse(c, unknownTier(tenant.tier));
      if (done === "exists") return errorResponse(c, conflict(`A tenant with id "${tenant.id}" exists.`, "id"));
      return c.json(tenantBody(tenant), 201);
    })
    .get("/tenants/:id", async (c) => {
      const tenant = await tenancy.getTenant(c.req.param("id"));
      return tenant ? c.json(tenantBody(tenant)) : errorResponse(c, noTenant(c.req.param("id")));
    })
    .patch("/tenants/:id", validateJson(tenantUpdateSchema), async (c) => {
      const id = c.req.param("id");
      const update = c.req.valid("json");
      const done = await tenancy.updateTenant(id, update);
      if (done === "not_found") return errorResponse(c, noTenant(id));
      if (done === "unknown_tier") return errorResponse(c, unknownTier(update.tier));
      const tenant = await tenancy.getTenant(id);
      return tenant ? c.json(tenantBody(tenant)) : errorResponse(c, noTenant(id));
    })
    .delete("/tenants/:id", async (c) => {
      const id = c.req.param("id");
      const done = await tenancy.deleteTenant(id);
      if (done === "not_found") return errorResponse(c, noTenant(id));
      return c.json({ object: "tenant", id, deleted: true });
    })

    .post("/tenants/:id/keys", async (c) => {
      const id = c.req.param("id");
      const created = await tenancy.createKey(id);
      if (!created) return errorResponse(c, noTenant(id));
      // the only response that carries the key: it is not stored and cannot be shown again
      return c.json({ ...keyBody(created.record), key: created.key }, 201);
    })
    .get("/tenants/:id/keys", async (c) => {
      const id = c.req.param("id");
      if (!(await tenancy.getTenant(id))) return errorResponse(c, noTenant(id));
      return c.json(list((await tenancy.listKeys(id)).map(keyBody)));
    })
    .get("/keys", async (c) => {
      const tenant = c.req.query("tenant");
      return c.json(list((await tenancy.listKeys(tenant)).map(keyBody)));
    })
    .delete("/keys/:id", async (c) => {
      const id = c.req.param("id");
      const done = await tenancy.revokeKey(id);
      if (done === "not_found") return errorResponse(c, notFound(`No key with id "${id}".`));
      const record = (await tenancy.listKeys()).find((k) => k.id === id);
      return c.json({ ...(record ? keyBody(record) : { object: "api_key", id }), revoked: true });
    });
}
