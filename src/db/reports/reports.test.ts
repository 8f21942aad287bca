/**
 * Reports against PGlite and the local Postgres, over rows written by the real recorder: every figure
 * equals the sum of the rows it covers, reports read daily_usage alone (they run as a role that cannot
 * read `requests`), and recent decisions are one tenant's, newest first, from an index-backed plan.
 */
import { join } from "node:path";
import { type SQL, sql } from "drizzle-orm";
import postgres from "postgres";
import { afterEach, describe, expect, it } from "vitest";
import type { RecordEntry } from "../entry.js";
import { type Database, openDatabase } from "../open.js";
import { type TestDatabase, testDatabase } from "../testkit.js";
import { decisionsQuery } from "./decisions.js";
import { createReports, type Reports } from "./index.js";
import { type ExpectedSums, REPORT_NOW, recordThrough, sumsOf, usageEntries, within } from "./testkit.js";
import { ratesOf } from "./usage.js";

const ENTRIES = usageEntries(240);

function expectedFigures(list: readonly RecordEntry[]) {
  const s: ExpectedSums = sumsOf(list);
  const savings = s.counterfactualCost - s.cost;
  return {
    ...s,
    savings,
    savingsRatio: s.counterfactualCost > 0 ? savings / s.counterfactualCost : null,
    errorRate: s.requests > 0 ? s.errors / s.requests : null,
    slaMissRate: s.requests > 0 ? s.slaMisses / s.requests : null,
  };
}

function groupedBy<K extends string>(list: readonly RecordEntry[], key: (e: RecordEntry) => K): Map<K, RecordEntry[]> {
  const out = new Map<K, RecordEntry[]>();
  for (const e of list) out.set(key(e), [...(out.get(key(e)) ?? []), e]);
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Runs statements on one connection (a transaction pins it under postgres.js). */
async function onOneConnection(database: Database, statements: readonly SQL[]): Promise<Record<string, unknown>[]> {
  return database.orm.transaction(async (tx) => {
    let last: unknown;
    for (const s of statements) last = await tx.execute(s);
    const result = last as { rows?: Record<string, unknown>[] } | Record<string, unknown>[];
    return Array.isArray(result) ? [...result] : (result.rows ?? []);
  });
}

describe.each(["pglite", "postgres"] as const)("reports on %s", (driver) => {
  let t: TestDatabase | undefined;
  let reports: Reports;
  const cleanups: (() => Promise<void>)[] = [];

  async function recorded(list: readonly RecordEntry[] = ENTRIES): Promise<TestDatabase> {
    t = await testDatabase(driver);
    await recordThrough(t.database, join(t.dir, "journal"), list);
    reports = createReports(t.database);
    return t;
  }

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await t?.dispose();
    t = undefined;
  });

  it("per tenant, per variant and per day, every figure is the sum of the rows in the range", async () => {
    const db = await recorded();
    const range = { from: "2026-11-28", to: "2026-11-30" };
    const inRange = within(ENTRIES, range.from, range.to);
    expect(inRange.length).toBeGreaterThan(0);
    expect(inRange.length).toBeLessThan(ENTRIES.length); // the first and last days are outside

    const byTenant = await reports.usage({ range, groupBy: "tenant" });
    expect(byTenant.totals).toEqual(expectedFigures(inRange));
    expect(byTenant.groups).toEqual(
      [...groupedBy(inRange, (e) => e.request.tenantId)].map(([tenantId, rows]) => ({
        tenantId,
        ...expectedFigures(rows),
      })),
    );

    const acme = within(ENTRIES, range.from, range.to, "acme");
    const byVariant = await reports.usage({ range, tenantId: "acme", groupBy: "variant" });
    expect(byVariant.tenantId).toBe("acme");
    expect(byVariant.totals).toEqual(expectedFigures(acme));
    // requests no variant answered are a group of their own, with variant null (sorted first: '' < 'n')
    expect(byVariant.groups).toEqual(
      [...groupedBy(acme, (e) => e.request.variant ?? "")].map(([variant, rows]) => ({
        variant: variant === "" ? null : variant,
        ...expectedFigures(rows),
      })),
    );
    expect(byVariant.groups.map((g) => g.variant)).toEqual([null, "nano-b158", "nano-fp32"]);

    const byDay = await reports.usage({ range, tenantId: "globex", groupBy: "day" });
    const globex = within(ENTRIES, range.from, range.to, "globex");
    expect(byDay.groups).toEqual(
      [...groupedBy(globex, (e) => e.request.createdAt.slice(0, 10))].map(([day, rows]) => ({
        day,
        ...expectedFigures(rows),
      })),
    );
    expect(byDay.groups.map((g) => g.day)).toEqual(["2026-11-28", "2026-11-29", "2026-11-30"]);

    // the savings are real: ternary answers cost a quarter of their fp32 counterfactual
    expect(byTenant.totals.savings).toBeGreaterThan(0);
    expect(byTenant.totals.savingsRatio).toBeGreaterThan(0);
    expect(byTenant.totals.savingsRatio).toBeLessThan(1);
    expect(byTenant.totals.slaMisses).toBeGreaterThan(0);
    expect(byTenant.totals.errors).toBeGreaterThan(0);

    // and they agree with the request log itself (read here as the test's superuser, not by the reports)
    const [log] = await db.database.rows<{ n: number; cost: number }>(
      sql`select count(*)::int as n, coalesce(sum(cost), 0)::float8 as cost from requests
          where created_at >= '2026-11-28T00:00:00Z' and created_at < '2026-12-01T00:00:00Z'`,
    );
    expect(log).toEqual({ n: byTenant.totals.requests, cost: byTenant.totals.cost });
  });

  it("a range with no traffic reports zeros, and a replayed batch changes nothing", async () => {
    const db = await recorded();
    const empty = await reports.usage({ range: { from: "2026-10-01", to: "2026-10-31" }, groupBy: "tenant" });
    expect(empty.groups).toEqual([]);
    expect(empty.totals).toEqual(ratesOf(sumsOf([])));
    expect(empty.totals.errorRate).toBeNull();
    expect(empty.totals.savingsRatio).toBeNull();
    const all = { from: "2026-11-01", to: "2026-12-31" };
    const before = await reports.usage({ range: all, groupBy: "tenant" });
    await recordThrough(db.database, join(db.dir, "journal-again"), ENTRIES.slice(0, 100));
    expect(await reports.usage({ range: all, groupBy: "tenant" })).toEqual(before);
    expect(before.totals.requests).toBe(ENTRIES.length);
  });

  it("reads daily_usage only: a role that cannot read requests gets the same report", async () => {
    const db = await recorded();
    const role = `tg_reports_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const range = { from: "2026-11-27", to: "2026-12-01" };
    const asOwner = await reports.usage({ range, groupBy: "variant" });
    let asRole: Awaited<ReturnType<Reports["usage"]>>;
    let denied: unknown;
    if (driver === "pglite") {
      // PGlite is one session: SET ROLE changes who every following query runs as
      await db.database.rows(sql.raw(`create role ${role} nologin`));
      await db.database.rows(sql.raw(`grant select on daily_usage to ${role}`));
      await db.database.rows(sql.raw(`set role ${role}`));
      cleanups.push(async () => {
        await db.database.rows(sql`reset role`);
      });
      asRole = await reports.usage({ range, groupBy: "variant" });
      denied = await db.database.rows(sql`select count(*) from requests`).catch((e: unknown) => e);
    } else {
      const admin = postgres(db.url as string, { max: 1, onnotice: () => undefined });
      await admin.unsafe(`create role ${role} login`);
      await admin.unsafe(`grant select on daily_usage to ${role}`);
      cleanups.push(async () => {
        await admin.unsafe(`drop owned by ${role}`);
        await admin.unsafe(`drop role ${role}`);
        await admin.end();
      });
      const url = new URL(db.url as string);
      url.username = role;
      const limited = await openDatabase({ url: url.toString(), stateDir: db.stateDir, migrate: false });
      cleanups.push(() => limited.close());
      asRole = await createReports(limited).usage({ range, groupBy: "variant" });
      denied = await limited.rows(sql`select count(*) from requests`).catch((e: unknown) => e);
    }
    expect(asRole).toEqual(asOwner);
    expect(asRole.totals.requests).toBe(ENTRIES.length);
    // the role really cannot read the request log
    const message = String((denied as { cause?: Error }).cause?.message ?? (denied as Error).message);
    expect(message).toMatch(/permission denied for (table|relation) requests/);
  });

  it("recent decisions: one tenant's, newest first, within the day window, with their candidates", async () => {
    await recorded();
    const decisions = await reports.recentDecisions("acme", { nowMs: REPORT_NOW, days: 2, limit: 1000 });
    const wanted = ENTRIES.filter((e) => e.request.tenantId === "acme" && e.request.createdAt >= "2026-11-30")
      .sort((a, b) =>
        a.request.createdAt === b.request.createdAt
          ? b.request.requestId.localeCompare(a.request.requestId)
          : b.request.createdAt.localeCompare(a.request.createdAt),
      )
      .map((e) => e.request.requestId);
    expect(wanted.length).toBeGreaterThan(5);
    expect(decisions.map((d) => d.request.requestId)).toEqual(wanted);
    for (const d of decisions) {
      const entry = ENTRIES.find((e) => e.request.requestId === d.request.requestId) as RecordEntry;
      expect(d.request.tenantId).toBe("acme");
      expect(d.request.createdAt).toBe(entry.request.createdAt);
      expect(d.decision.requestId).toBe(d.request.requestId);
      expect(d.decision.candidates).toEqual(entry.decision?.candidates);
      expect(d.decision.fallbackChain).toEqual(entry.decision?.fallbackChain);
      expect(d.request.cost).toBe(entry.request.cost);
    }
    const three = await reports.recentDecisions("acme", { nowMs: REPORT_NOW, days: 2, limit: 3 });
    expect(three.map((d) => d.request.requestId)).toEqual(wanted.slice(0, 3));
    expect(await reports.recentDecisions("nobody", { nowMs: REPORT_NOW })).toEqual([]);
    await expect(reports.recentDecisions("acme", { nowMs: REPORT_NOW, limit: 1001 })).rejects.toThrow(/limit/);
    await expect(reports.recentDecisions("acme", { nowMs: REPORT_NOW, days: 0 })).rejects.toThrow(/days/);
  });

  it("recent decisions are read through the tenant index and the decisions' key, from the window's partitions only", async () => {
    const db = await recorded();
    const query = decisionsQuery(db.database, "acme", { nowMs: REPORT_NOW, days: 2, limit: 50 });
    // with sequential scans priced out, a plan without one exists only if indexes can serve the query
    const plan = (await onOneConnection(db.database, [sql`set local enable_seqscan = off`, sql`explain ${query}`]))
      .map((r) => String(Object.values(r)[0]))
      .join("\n");
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toContain("Index Scan Backward using requests_p20261201_tenant_id_created_at_idx");
    // each decision is a key lookup per request found, not a join over every decision of the window
    expect(plan).toMatch(/^Nested Loop/);
    expect(plan).not.toMatch(/Hash Join|Merge Join/);
    expect(plan).toContain("Index Scan using routing_decisions_p20261130_pkey");
    // days before the window are pruned: their partitions are not in the plan
    for (const day of ["20261127", "20261128", "20261129"]) {
      expect(plan).not.toContain(`requests_p${day}`);
      expect(plan).not.toContain(`routing_decisions_p${day}`);
    }
  });

  it("refuses a range parseDayRange would refuse", async () => {
    await recorded(ENTRIES.slice(0, 10));
    await expect(reports.usage({ range: { from: "2026-12-02", to: "2026-12-01" }, groupBy: "day" })).rejects.toThrow(
      /after/,
    );
    await expect(reports.usage({ range: { from: "2026-02-30", to: "2026-03-01" }, groupBy: "day" })).rejects.toThrow(
      /YYYY-MM-DD/,
    );
  });
});
