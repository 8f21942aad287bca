/**
 * Tenancy served from the database, the one call for `serve` and `tritgate keys`: seed from the config
 * (first start only), import a legacy `keys.json`, then the in-memory directory and the admin over the
 * same database (every change the admin makes reloads the directory at once).
 */
import type { TenancyAdmin, TenancyConfig } from "../../tenants/types.js";
import type { Database } from "../open.js";
import { databaseTenancyAdmin } from "./admin.js";
import { type DatabaseDirectoryOptions, type DatabaseTenantDirectory, openDatabaseDirectory } from "./directory.js";
import { importLegacyKeys, type LegacyImport, seedTenancy } from "./seed.js";

export interface TenancyOptions extends DatabaseDirectoryOptions {
  readonly database: Database;
  readonly config: TenancyConfig;
  /** where a legacy `keys.json` may be; omitted = none is looked for */
  readonly stateDir?: string;
}

export interface Tenancy {
  readonly directory: DatabaseTenantDirectory;
  readonly admin: TenancyAdmin;
  /** whether this start seeded the database from the config */
  readonly seeded: boolean;
  readonly legacy: LegacyImport;
  close(): void;
}

export async function openTenancy(options: TenancyOptions): Promise<Tenancy> {
  const { database, config, stateDir, ...directoryOptions } = options;
  const seeded = await seedTenancy(database, config);
  const legacy =
    stateDir === undefined ? { file: undefined, imported: 0, skipped: 0 } : await importLegacyKeys(database, stateDir);
  const directory = await openDatabaseDirectory(database, directoryOptions);
  const admin = databaseTenancyAdmin(database, () => directory.reload());
  return { directory, admin, seeded, legacy, close: () => directory.close() };
}
