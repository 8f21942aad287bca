/** A configured variant in the router's terms (the router's `VariantState` adds live load and breaker state). */
import type { CostParams } from "../../router/index.js";
import type { VariantConfig } from "./schema.js";

export function variantCost(variant: VariantConfig): CostParams {
  return {
    pricePerCoreHour: variant.pricePerCoreHour,
    wattsPerCore: variant.wattsPerCore,
    coresPerRequest: variant.coresPerRequest,
  };
}
