/**
 * One way to open the database whichever driver serves it: `DATABASE_URL` (or `url`) set → Postgres
 * through postgres.js; unset → PGlite (Postgres compiled to WASM) in `<stateDir>/pglite`. Both get the
 * same migrations, run at open. Each driver is loaded only when chosen, so a gateway that never opens
 * the database never loads either.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Sql } from "postgres";
import { migrationsFolder } from "./migrate.js";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** The drizzle handle; the same query builder over either driver. */
export type Orm = PgDatabase<PgQueryResultHKT, Schema>;
export type Driver = "pglite" | "postgres";

export interface Database {
  readonly driver: Driver;
  readonly orm: Orm;
  /** Runs a statement and returns its rows, the same shape from either driver. */
  rows<T extends Record<string, unknown>>(query: SQL): Promise<T[]>;
  /** The postgres.js client (for COPY); undefined under PGlite. */
  readonly postgres: Sql | undefined;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** A postgres:// URL; defaults to `DATABASE_URL`; empty or unset selects PGlite. */
  readonly url?: string | undefined;
  /** Where PGlite keeps its files (`<stateDir>/pglite`); ignored with a URL. */
  readonly stateDir: string;
  /** Apply pending migrations before returning (default true). */
  readonly migrate?: boolean;
  /** postgres.js pool size (default 4). */
  readonly maxConnections?: number;
  /**
   * How long a postgres.js connection that failed waits before it connects again (default 1 s). A
   * constant: the driver's own backoff grows with every failure to 10–20 s, so after an outage of a
   * few seconds the pool would not try the server again for that long after it is back.
   */
  readonly reconnectDelayMs?: number;
}

/** The URL each postgres.js database was opened from (the recorder's flusher thread connects with it). */
const openedFrom = new WeakMap<Database, string>();

/**
 * The URL `openDatabase` opened this database from; undefined under PGlite and for a `Database` made
 * some other way (a wrapper whose behaviour only its own object has, so a second connection would not have it).
 */
export function connectionUrl(database: Database): string | undefined {
  return openedFrom.get(database);
}

/** The driver `openDatabase` will pick for these options and environment. */
export function driverFor(url: string | undefined, env: NodeJS.ProcessEnv = process.env): Driver {
  const chosen = url ?? env.DATABASE_URL;
  return chosen !== undefined && chosen !== "" ? "postgres" : "pglite";
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  const url = options.url ?? process.env.DATABASE_URL;
  const migrate = options.migrate !== false;
  return url !== undefined && url !== ""
    ? openPostgres(url, options.maxConnections ?? 4, options.reconnectDelayMs ?? 1000, migrate)
    : openPglite(join(options.stateDir, "pglite"), migrate);
}

/** Any constant; replicas starting together take turns applying migrations. */
const MIGRATION_LOCK = 7_310_241;

async function openPostgres(url: string, max: number, reconnectDelayMs: number, migrate: boolean): Promise<Database> {
  const { default: postgres } = await import("postgres");
  const { drizzle } = await import("drizzle-orm/postgres-js");
  // notices ("relation already exists, skipping") are expected from IF NOT EXISTS and say nothing
  // `backoff` (seconds) the same after every failure, not the driver's growing default (see `reconnectDelayMs`)
  const backoff = () => reconnectDelayMs / 1000;
  const options = { onnotice: () => undefined, connect_timeout: 5, backoff } as const;
  if (migrate) {
    // on a connection of its own: the advisory lock is per session, the pool's connections are not
    const { migrate: apply } = await import("drizzle-orm/postgres-js/migrator");
    const single = postgres(url, { ...options, max: 1 });
    try {
      await single`select pg_advisory_lock(${MIGRATION_LOCK})`;
      await apply(drizzle(single), { migrationsFolder: migrationsFolder() });
      await single`select pg_advisory_unlock(${MIGRATION_LOCK})`;
    } finally {
      await single.end({ timeout: 5 });
    }
  }
  const client = postgres(url, { ...options, max, idle_timeout: 30 });
  const pg = drizzle(client, { schema });
  const orm: Orm = pg;
  const database: Database = {
    driver: "postgres",
    orm,
    postgres: client,
    rows: async <T extends Record<string, unknown>>(query: SQL) => [...(await pg.execute(query))] as T[],
    close: () => client.end({ timeout: 5 }),
  };
  openedFrom.set(database, url);
  return database;
}

async function openPglite(dataDir: string, migrate: boolean): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const client = await PGlite.create(dataDir);
  const pglite = drizzle(client, { schema });
  if (migrate) {
    const { migrate: apply } = await import("drizzle-orm/pglite/migrator");
    try {
      await apply(pglite, { migrationsFolder: migrationsFolder() });
    } catch (e) {
      await client.close();
      throw e;
    }
  }
  const orm: Orm = pglite;
  return {
    driver: "pglite",
    orm,
    postgres: undefined,
    rows: async <T extends Record<string, unknown>>(query: SQL) => (await pglite.execute(query)).rows as T[],
    close: () => client.close(),
  };
}
