/**
 * Every SQL query of every PostgreSQL panel, taken from the committed JSON with Grafana's macros
 * expanded, runs against a freshly migrated database the recorder has written to, on both drivers,
 * and returns rows: a renamed column or a rollup the panels cannot read fails here, not in Grafana.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import type { RecordEntry } from "../src/db/entry.js";
import { DatabaseRecorder } from "../src/db/recorder.js";
import { entryAt, type TestDatabase, testDatabase } from "../src/db/testkit.js";
import { panelQueries, substituteSql, unsubstituted } from "./queries.js";

const JSON_DIR = join(import.meta.dirname, "json");
const NOW = Date.parse("2026-12-01T12:00:00Z");

/** Two tenants × two variants over two days, one answer past its SLA's total budget. */
function traffic(): RecordEntry[] {
  const days = ["2026-11-30T09:00:00.000Z", "2026-12-01T09:00:00.000Z"];
  const out: RecordEntry[] = [];
  let i = 1; // entryAt(0) is a rejected request; start on a routed one
  for (const createdAt of days) {
    for (const tenant of ["tenant-a", "tenant-b"]) {
      for (let k = 0; k < 3; k++, i++) {
        if (i % 7 === 0) i++; // keep every row routed, so each tenant has both variants
        out.push(entryAt(i, createdAt, tenant));
      }
    }
  }
  const late = out[0];
  if (late === undefined) throw new Error("no traffic");
  out[0] = { ...late, request: { ...late.request, totalMs: 10_000 } };
  return out;
}

function sqlQueries() {
  return readdirSync(JSON_DIR)
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => panelQueries(JSON.parse(readFileSync(join(JSON_DIR, f), "utf8"))))
    .filter((q) => q.kind === "sql");
}

describe.each(["pglite", "postgres"] as const)("PostgreSQL panels on %s", (driver) => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it("every SQL query of every PostgreSQL panel returns rows from the recorder's tables", async () => {
    const queries = sqlQueries();
    expect(queries.length).toBeGreaterThan(0);
    t = await testDatabase(driver);
    const recorder = await DatabaseRecorder.start({
      database: t.database,
      journalDir: join(t.dir, "journal"),
      flushIntervalMs: 20,
      now: () => NOW,
    });
    const list = traffic();
    for (const e of list) recorder.enqueue(e.request, e.decision);
    await recorder.flush();
    await recorder.close();

    const [seen] = await t.database.rows<{ tenants: number; variants: number; misses: number }>(
      sql`select count(distinct tenant_id)::int as tenants, count(distinct variant)::int as variants,
        coalesce(sum(sla_misses), 0)::int as misses from daily_usage`,
    );
    expect(seen).toEqual({ tenants: 2, variants: 2, misses: 1 });

    // the dashboards' default range, ending now
    const to = new Date(NOW);
    const from = new Date(NOW - 30 * 86_400_000);
    for (const q of queries) {
      const ready = substituteSql(q.raw, from, to);
      expect(unsubstituted(ready), `${q.dashboard} / ${q.panel}`).toBeNull();
      const rows = await t.database.rows(sql.raw(ready));
      expect(rows.length, `${q.dashboard} / ${q.panel} (${q.refId}) returned no rows`).toBeGreaterThan(0);
    }
  });
});
