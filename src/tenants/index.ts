export {
  createTenantDirectory,
  type DirectoryOptions,
  MAX_KEY_LENGTH,
  type ManagedTenantDirectory,
  TenantConfigError,
} from "./directory.js";
export {
  createKeyRecord,
  generateKey,
  hashesEqual,
  hashKey,
  isWellFormedKey,
  KEY_PREFIX,
  keyPrefix,
  newKeyId,
  verifyKey,
} from "./keys.js";
export {
  createMemoryRateLimiter,
  createRateLimiter,
  createRedisRateLimiter,
  DEFAULT_KEY_PREFIX,
  type RateLimiterOptions,
  type RedisRateLimiterOptions,
  rateLimiterKind,
} from "./limits/index.js";
export { KEYS_FILE, type KeyStore, openKeyStore } from "./store.js";
export type {
  ApiKeyRecord,
  ConfiguredTenant,
  CreatedKey,
  KeyRevocation,
  LimitDecision,
  LimitReason,
  Principal,
  RateLimiter,
  ResponseCachePolicy,
  TenancyAdmin,
  TenancyConfig,
  Tenant,
  TenantChange,
  TenantDirectory,
  TenantUpdate,
  TierChange,
  TierConfig,
  TierUpdate,
} from "./types.js";
