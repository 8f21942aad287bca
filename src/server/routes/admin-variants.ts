/**
 * `/admin/variants…` (admin token only): the model registry and canary rollouts of this gateway.
 *
 *   GET  /admin/variants                          every version, with what this gateway serves of it
 *   GET  /admin/variants/transitions?variant=&limit=   the latest transitions, newest first
 *   POST /admin/variants/:name/versions {path, sha256?, version?}   register (and load) a canary, weight 0
 *   POST /admin/variants/:name/canary {weight, reason?}   the canary's share of the variant's requests
 *   POST /admin/variants/:name/promote {reason?}
 *   POST /admin/variants/:name/rollback {reason?}
 *
 * Registry refusals are OpenAI-shaped: 404 for an unknown variant or a missing canary, 409 for a
 * conflict (a canary already there, a version taken, another engine), 400 for a file that is
 * missing, unreadable or does not match its sha256.
 */
import { isAbsolute } from "node:path";
import { Hono } from "hono";
import { z } from "zod";
import { ModelFileError } from "../../db/model-file.js";
import { RegistryError } from "../../db/registry.js";
import type { VariantVersions } from "../canary/versions.js";
import { ApiError, errorResponse, invalidRequest, notFound } from "../errors.js";
import { type BodyContext, validateJson } from "../middleware/validate.js";
import type { GatewayEnv } from "../types.js";

const reason = z.string().min(1).max(500).optional();
const registerSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .refine(isAbsolute, { error: "expected an absolute path (the gateway's working directory is not yours)" }),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, { error: "expected a hex SHA-256 (64 hex digits)" })
    .optional(),
  version: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: "expected a version of letters, digits, '.', '_' or '-'" })
    .optional(),
});
const weightSchema = z.strictObject({ weight: z.number().min(0).max(1), reason });
const reasonSchema = z.strictObject({ reason });

export function variantAdminRoutes(versions: VariantVersions | undefined): Hono<GatewayEnv> {
  const routes = new Hono<GatewayEnv>();
  routes.use(async (c, next) => {
    if (!versions?.enabled) {
      return errorResponse(c, notFound("This gateway runs without the model registry (it needs the database)."));
    }
    return next();
  });
  const registry = versions!;
  routes.onError((e, c) => errorResponse(c, asApiError(e)));
  return routes
    .get("/", async (c) => c.json({ object: "list", data: await registry.list() }))
    .get("/transitions", async (c) => {
      const raw = c.req.query("limit") ?? "100";
      const limit = Number(raw);
      if (!/^\d+$/.test(raw) || limit < 1 || limit > 10_000) {
        return errorResponse(c, invalidRequest("limit must be an integer between 1 and 10000", "limit"));
      }
      return c.json({ object: "list", data: await registry.transitions(c.req.query("variant"), limit) });
    })
    .post("/:name/versions", validateJson(registerSchema), async (c: BodyContext<z.output<typeof registerSchema>>) => {
      const body = c.req.valid("json");
      const { row, loaded } = await registry.register({ name: variantName(c), ...body });
      const [view] = (await registry.list()).filter((v) => v.id === row.id);
      return c.json({ ...view, loaded }, 201);
    })
    .post("/:name/canary", validateJson(weightSchema), async (c: BodyContext<z.output<typeof weightSchema>>) => {
      const body = c.req.valid("json");
      return c.json(await registry.setWeight(variantName(c), body.weight, body.reason));
    })
    .post("/:name/promote", validateJson(reasonSchema), async (c: BodyContext<z.output<typeof reasonSchema>>) =>
      c.json(await registry.promote(variantName(c), c.req.valid("json").reason)),
    )
    .post("/:name/rollback", validateJson(reasonSchema), async (c: BodyContext<z.output<typeof reasonSchema>>) =>
      c.json(await registry.rollback(variantName(c), c.req.valid("json").reason)),
    );
}

/** The `:name` of the route (the typed body context does not carry the path's parameters). */
function variantName(c: { req: { param(key: string): string | undefined } }): string {
  return c.req.param("name") ?? "";
}

function asApiError(e: unknown): unknown {
  if (e instanceof RegistryError) return new ApiError(e.status, e.message, "invalid_request_error", e.code);
  if (e instanceof ModelFileError) return invalidRequest(e.message, "path", "invalid_model_file");
  return e;
}
