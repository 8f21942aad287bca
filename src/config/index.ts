export { DEFAULT_CONFIG_YAML, DEFAULTS_SOURCE, defaultConfig } from "./defaults.js";
export { CONFIG_FILE_NAMES, findConfigFile, loadConfig } from "./load.js";
export { ConfigError, type ConfigIssue, formatIssue, type ParseOptions, parseConfig } from "./parse.js";
export {
  ALL_VARIANTS,
  type CanaryConfig,
  type FamilyConfig,
  type GatewayConfig,
  type InlineCard,
  type KeyConfig,
  type ServerConfig,
  type TenantConfig,
  tenantSchema,
  tierSchema,
  type VariantConfig,
} from "./schema.js";
export { resolveStateDir } from "./state.js";
export { idleUnloadMsOf, variantCost } from "./variants.js";
