/** A configured variant in the router's terms (the router's `VariantState` adds live load and breaker state). */
import type { CardRates, CostParams } from "../../router/index.js";
import type { VariantConfig } from "./schema.js";

export function variantCardRates(variant: VariantConfig): CardRates {
  return { prefillTokensPerSec: variant.card.prefillTokensPerS, decodeTokensPerSec: variant.card.decodeTokensPerS };
}

export function variantCost(variant: VariantConfig): CostParams {
  return {
    pricePerCoreHour: variant.costPerCoreHour,
    wattsPerCore: variant.wattsPerCore,
    coresPerRequest: variant.coresPerRequest,
  };
}
