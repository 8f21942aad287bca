/** Where the migrations in `drizzle/` are (one folder for both drivers) and how many a database has applied. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import type { Database } from "./open.js";

/** The `drizzle/` folder: beside `src/` in the repository, beside `dist/` in the package. */
export function migrationsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "drizzle");
    if (existsSync(join(candidate, "meta", "_journal.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("the drizzle/ migrations folder was not found above src/db");
}

export interface MigrationStatus {
  readonly applied: number;
  readonly total: number;
}

export async function migrationStatus(database: Database): Promise<MigrationStatus> {
  const journal = JSON.parse(readFileSync(join(migrationsFolder(), "meta", "_journal.json"), "utf8")) as {
    entries: unknown[];
  };
  const rows = await database.rows<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
  return { applied: rows[0]?.n ?? 0, total: journal.entries.length };
}
