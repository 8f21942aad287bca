/**
 * Bodies of the admin API's tier and tenant routes: the config file's own schemas (one set of rules
 * for a tier however it is written), a tenant without `keys` (keys are created through their route).
 */
import { tenantSchema, tierSchema } from "../../config/index.js";

export const tierCreateSchema = tierSchema;
/** Any field but the name; only the fields the body names change (zod still fills defaults in: see `presentFields`). */
export const tierUpdateSchema = tierSchema.omit({ name: true }).partial();
export const tenantCreateSchema = tenantSchema.omit({ keys: true });
export const tenantUpdateSchema = tenantSchema.pick({ name: true, tier: true }).partial();
