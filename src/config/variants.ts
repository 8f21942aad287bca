/** A configured variant in the router's terms (the router's `VariantState` adds live load and breaker state). */
import type { CostParams } from "../../router/index.js";
import type { GatewayConfig, VariantConfig } from "./schema.js";

export function variantCost(variant: VariantConfig): CostParams {
  return {
    pricePerCoreHour: variant.pricePerCoreHour,
    wattsPerCore: variant.wattsPerCore,
    coresPerRequest: variant.coresPerRequest,
  };
}

/** How long the variant may sit idle before its model is unloaded: its own setting, else the config's; undefined = never. */
export function idleUnloadMsOf(
  config: Pick<GatewayConfig, "idleUnloadMs">,
  variant: VariantConfig,
): number | undefined {
  const ms = variant.idleUnloadMs === undefined ? config.idleUnloadMs : variant.idleUnloadMs;
  return ms ?? undefined;
}
