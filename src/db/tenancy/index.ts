/** Tenants, tiers and keys kept in the database: the directory the gateway reads and the admin that changes them. */
export { sqlState } from "./admin.js";
export { type DatabaseDirectoryOptions, type DatabaseTenantDirectory, DEFAULT_REFRESH_MS } from "./directory.js";
export { ADMIN_TOKEN_PREFIX, type DemoKey, ensureAdminToken, ensureDemoKey } from "./first-start.js";
export { openTenancy, type Tenancy, type TenancyOptions } from "./open.js";
export { IMPORTED_SUFFIX, type LegacyImport } from "./seed.js";
