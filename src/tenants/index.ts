export type {
  ApiKeyRecord,
  LimitDecision,
  LimitReason,
  Principal,
  RateLimiter,
  Tenant,
  TenantDirectory,
  TierConfig,
} from "./types.js";
