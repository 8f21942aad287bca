/** Test helpers: entries as the server builds them, and a database per test on either driver. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import type { RecordEntry } from "./entry.js";
import { type Database, openDatabase } from "./open.js";

/** The local server the suites also run against (trust auth). */
export const POSTGRES_ADMIN_URL = process.env.TRITGATE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

/** Entry `i`: a routed request unless `i` is a multiple of 7 (rejected before routing: no decision, 429). */
export function entryAt(i: number, createdAt: string, tenantId = `tenant-${i % 3}`): RecordEntry {
  const routed = i % 7 !== 0;
  const variant = routed ? (i % 2 === 0 ? "nano-ternary" : "nano-fp32") : null;
  const requestId = `req-${createdAt.slice(0, 10)}-${i}`;
  return {
    request: {
      requestId,
      createdAt,
      endpoint: "/v1/chat/completions",
      tenantId,
      keyId: `key-${tenantId}`,
      tier: "standard",
      model: "nano",
      variant,
      variantVersion: routed ? "1" : null,
      status: routed ? 200 : 429,
      stream: i % 2 === 1,
      tokensIn: 10 + (i % 13),
      tokensOut: routed ? 20 + (i % 17) : 0,
      queueMs: routed ? 1 : null,
      ttftMs: routed ? 30 + (i % 50) : null,
      totalMs: routed ? 100 + (i % 200) : 0.5,
      cpuMs: routed ? 90 : null,
      energyJ: routed ? 0.5 : null,
      cost: routed ? 0.001 : null,
      price: routed ? 0.002 : 0,
      counterfactualCost: routed ? 0.004 : null,
      cacheHit: false,
      degraded: i % 11 === 0,
      errorCode: routed ? null : "rate_limited",
    },
    decision: routed
      ? {
          decisionId: `dec-${i}`,
          requestId,
          strategy: "sla",
          qualityNeed: 0.5,
          sla: { ttftMs: 60, totalMs: 250 },
          load: { "nano-ternary": { running: i % 4, waiting: 0 } },
          candidates: [],
          chosen: variant,
          reason: "cheapest_feasible",
          fallbackChain: variant ? [variant] : [],
          degraded: i % 11 === 0,
        }
      : null,
  };
}

export function entries(count: number, createdAt = "2026-12-01T12:00:00.000Z", from = 0): RecordEntry[] {
  return Array.from({ length: count }, (_, k) => entryAt(from + k, createdAt));
}

export interface TestDatabase {
  readonly database: Database;
  /** the URL (postgres) or the state directory (pglite) it was opened from, to open it again */
  readonly url: string | undefined;
  readonly stateDir: string;
  /** a scratch directory for the journal */
  readonly dir: string;
  dispose(): Promise<void>;
}

/** A fresh, migrated database: PGlite in a temporary directory, or a new database on the local server. */
export async function testDatabase(driver: "pglite" | "postgres"): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "tritgate-db-"));
  let url: string | undefined;
  let drop: () => Promise<void> = async () => undefined;
  if (driver === "postgres") {
    const name = `tritgate_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    await admin.end();
    const u = new URL(POSTGRES_ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    drop = async () => {
      const a = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => undefined });
      await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    };
  }
  const database = await openDatabase({ url: url ?? "", stateDir: join(dir, "state") });
  return {
    database,
    url,
    stateDir: join(dir, "state"),
    dir,
    async dispose() {
      await database.close().catch(() => undefined);
      await drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every value of every text-like column of every table in the public schema, as one string. */
export async function everyTextValue(database: Database): Promise<string> {
  const columns = await database.rows<{ table_name: string; column_name: string }>(
    sql`select table_name, column_name from information_schema.columns
        where table_schema = 'public' and data_type in ('text', 'character varying', 'jsonb', 'json')`,
  );
  let out = "";
  for (const c of columns) {
    const rows = await database.rows<{ v: string | null }>(
      sql`select ${sql.identifier(c.column_name)}::text as v from ${sql.identifier(c.table_name)}`,
    );
    out += rows.map((r) => r.v ?? "").join("\n");
  }
  return out;
}
