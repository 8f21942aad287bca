/**
 * The usage routes over real HTTP, on PGlite and the local Postgres (a fresh database per test), with
 * rows written by the real recorder: a tenant key reads its own usage and nobody else's, admin routes
 * refuse tenant keys, bad ranges are 400s naming the parameter, and a missing or failing database is a
 * 501 or 503 — never another tenant's rows.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createReports } from "../db/index.js";
import { REPORT_NOW, recordThrough, sumsOf, usageEntries, within } from "../db/reports/testkit.js";
import { type TestDatabase, testDatabase } from "../db/testkit.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "./testkit.js";

const ENTRIES = usageEntries(150);
const RANGE = "from=2026-11-27&to=2026-12-01";

interface Figures {
  requests: number;
  tokensOut: number;
  cost: number;
  counterfactualCost: number;
  savings: number;
  slaMisses: number;
  errors: number;
}

interface ReportBody {
  object: string;
  tenant: string | null;
  from: string;
  to: string;
  groupBy: string;
  totals: Figures;
  data: (Figures & { tenantId?: string; variant?: string | null; day?: string })[];
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const figuresOf = (rows: typeof ENTRIES) => {
  const s = sumsOf(rows);
  return {
    requests: s.requests,
    tokensOut: s.tokensOut,
    cost: s.cost,
    counterfactualCost: s.counterfactualCost,
    savings: s.counterfactualCost - s.cost,
    slaMisses: s.slaMisses,
    errors: s.errors,
  };
};

describe.each(["pglite", "postgres"] as const)("usage routes on %s", (driver) => {
  let t: TestDatabase | undefined;
  let gw: TestGateway | undefined;

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await t?.dispose();
    t = undefined;
  });

  async function started(): Promise<TestGateway> {
    t = await testDatabase(driver);
    await recordThrough(t.database, join(t.dir, "journal"), ENTRIES);
    gw = await startTestGateway([], { reports: createReports(t.database), now: () => REPORT_NOW });
    return gw;
  }

  const get = async (path: string, key: string) => {
    const res = await fetch(`${gw?.server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
  };

  it("each tenant key sees its own usage only; another tenant's, by any parameter, is refused", async () => {
    const g = await started();
    for (const [tenant, key] of [
      ["acme", g.keys.standard],
      ["globex", g.keys.premium],
    ] as const) {
      const own = within(ENTRIES, "2026-11-27", "2026-12-01", tenant);
      expect(own.length).toBeGreaterThan(10);
      const res = await get(`/v1/usage?${RANGE}`, key);
      expect(res.status).toBe(200);
      const body = res.body as ReportBody;
      expect(body).toMatchObject({ object: "usage.report", tenant, groupBy: "variant", from: "2026-11-27" });
      expect(body.totals).toMatchObject(figuresOf(own));
      for (const group of body.data) {
        const rows = own.filter((e) => (e.request.variant ?? null) === group.variant);
        expect(group).toMatchObject(figuresOf(rows));
      }
      expect(body.data.reduce((s, g) => s + g.requests, 0)).toBe(own.length);
      // naming itself is fine; naming anyone else is a 403 that says nothing about them
      expect((await get(`/v1/usage?${RANGE}&tenant=${tenant}`, key)).body).toEqual(body);
      const other = tenant === "acme" ? "globex" : "acme";
      for (const name of [other, "initech", "no-such-tenant"]) {
        const refused = await get(`/v1/usage?${RANGE}&tenant=${name}`, key);
        expect(refused.status).toBe(403);
        expect(refused.body).toMatchObject({ error: { type: "permission_error", param: "tenant" } });
        expect(JSON.stringify(refused.body)).not.toContain(`"requests"`);
      }
      // the admin surface is closed to tenant keys: their own tenant's or another's
      for (const path of [
        "/admin/usage",
        `/admin/usage?tenant=${tenant}`,
        "/admin/usage/variants",
        `/admin/tenants/${other}/decisions`,
        `/admin/tenants/${tenant}/decisions`,
      ]) {
        const res = await get(path, key);
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ error: { type: "permission_error", code: "admin_only" } });
      }
    }
    // by day, the days in the range that had traffic, each one's sums
    const byDay = (await get(`/v1/usage?from=2026-11-28&to=2026-11-29&group_by=day`, g.keys.standard))
      .body as ReportBody;
    expect(byDay.data.map((d) => d.day)).toEqual(["2026-11-28", "2026-11-29"]);
    for (const d of byDay.data)
      expect(d).toMatchObject(figuresOf(within(ENTRIES, d.day as string, d.day as string, "acme")));
    // a tenant with no rows sees zeros, not someone else's
    const empty = (await get(`/v1/usage?${RANGE}`, g.keys.free)).body as ReportBody;
    expect(empty).toMatchObject({ tenant: "hobbyist", data: [], totals: { requests: 0, cost: 0 } });
  });

  it("admin: every tenant, one tenant, per variant, and a tenant's recent decisions", async () => {
    await started();
    const all = (await get(`/admin/usage?${RANGE}`, ADMIN_TOKEN)).body as ReportBody;
    expect(all).toMatchObject({ tenant: null, groupBy: "tenant", totals: figuresOf(ENTRIES) });
    expect(all.data.map((d) => d.tenantId)).toEqual(["acme", "globex", "initech"]);
    for (const d of all.data)
      expect(d).toMatchObject(figuresOf(within(ENTRIES, "2026-11-27", "2026-12-01", d.tenantId)));

    const one = (await get(`/admin/usage?${RANGE}&tenant=initech`, ADMIN_TOKEN)).body as ReportBody;
    expect(one).toMatchObject({ tenant: "initech", groupBy: "variant" });
    expect(one.totals).toMatchObject(figuresOf(within(ENTRIES, "2026-11-27", "2026-12-01", "initech")));

    const variants = (await get(`/admin/usage/variants?${RANGE}`, ADMIN_TOKEN)).body as ReportBody;
    expect(variants.data.map((d) => d.variant)).toEqual([null, "nano-b158", "nano-fp32"]);
    const b158 = variants.data.find((d) => d.variant === "nano-b158") as Figures;
    expect(b158).toMatchObject(figuresOf(ENTRIES.filter((e) => e.request.variant === "nano-b158")));
    // ternary costs a quarter of its fp32 counterfactual in these rows: the savings are three quarters
    expect(b158.savings).toBe(b158.counterfactualCost * 0.75);

    const decisions = await get("/admin/tenants/globex/decisions?limit=4&days=2", ADMIN_TOKEN);
    expect(decisions.status).toBe(200);
    const list = decisions.body as {
      tenant: string;
      data: {
        request: { requestId: string; tenantId: string; createdAt: string };
        decision: { candidates: unknown[] };
      }[];
    };
    const newest = ENTRIES.filter((e) => e.request.tenantId === "globex" && e.request.createdAt >= "2026-11-30")
      .sort((a, b) => b.request.createdAt.localeCompare(a.request.createdAt))
      .slice(0, 4)
      .map((e) => e.request.requestId);
    expect(list.data.map((d) => d.request.requestId)).toEqual(newest);
    for (const d of list.data) {
      expect(d.request.tenantId).toBe("globex");
      expect(d.decision.candidates).toHaveLength(2);
    }
    expect((await get("/admin/tenants/globex/decisions", ADMIN_TOKEN)).status).toBe(200);
  });

  it("bad dates, ranges and parameters are 400s naming the parameter; no token is a 401", async () => {
    const g = await started();
    const cases: [string, string, string | null][] = [
      ["/v1/usage?from=2026-13-01", "from", "invalid_value"],
      ["/v1/usage?from=2026-11-01&to=2026-02-30", "to", "invalid_value"],
      ["/v1/usage?from=2026-12-02&to=2026-12-01", "from", "invalid_value"],
      ["/v1/usage?from=2024-01-01&to=2026-01-01", "to", "invalid_value"],
      ["/v1/usage?from=2026-11-01&from=2026-11-02", "from", "invalid_value"],
      ["/v1/usage?group_by=tenant", "group_by", "invalid_value"],
      ["/v1/usage?since=2026-11-01", "since", "unknown_parameter"],
    ];
    for (const [path, param, code] of cases) {
      const res = await get(path, g.keys.standard);
      expect(res.status, path).toBe(400);
      expect(res.headers.get("x-request-id")).toBeTruthy();
      expect(res.body, path).toEqual({
        error: { message: expect.any(String), type: "invalid_request_error", param, code },
      });
    }
    for (const [path, param] of [
      ["/admin/usage?to=yesterday", "to"],
      ["/admin/usage?tenant=", "tenant"],
      ["/admin/usage?group_by=hour", "group_by"],
      ["/admin/usage/variants?tenant=acme", "tenant"],
      ["/admin/tenants/acme/decisions?limit=0", "limit"],
      ["/admin/tenants/acme/decisions?limit=1001", "limit"],
      ["/admin/tenants/acme/decisions?limit=1.5", "limit"],
      ["/admin/tenants/acme/decisions?days=32", "days"],
    ] as const) {
      const res = await get(path, ADMIN_TOKEN);
      expect(res.status, path).toBe(400);
      expect((res.body as ErrorBody).error.param, path).toBe(param);
    }
    expect((await fetch(`${g.server.url}/v1/usage`)).status).toBe(401);
    expect((await fetch(`${g.server.url}/admin/usage`)).status).toBe(401);
    expect((await get("/admin/usage", "not-the-token")).status).toBe(401);
  });

  it("a database that stops answering is a 503 the client may retry", async () => {
    const g = await started();
    expect((await get("/v1/usage", g.keys.standard)).status).toBe(200);
    await t?.database.close();
    const res = await get(`/v1/usage?${RANGE}`, g.keys.standard);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-should-retry")).toBe("true");
    expect(res.body).toMatchObject({ error: { type: "server_error", code: "database_unavailable" } });
    expect((await get("/admin/tenants/acme/decisions", ADMIN_TOKEN)).status).toBe(503);
  });
});

describe("usage routes without a database", () => {
  it("answer 501 reports_unavailable, not retried; bad input is still a 400", async () => {
    const gw = await startTestGateway([]);
    try {
      const key = gw.keys.standard;
      const at = (path: string, k: string) =>
        fetch(`${gw.server.url}${path}`, { headers: { authorization: `Bearer ${k}` } });
      for (const [path, k] of [
        ["/v1/usage", key],
        ["/admin/usage", ADMIN_TOKEN],
        ["/admin/usage/variants", ADMIN_TOKEN],
        ["/admin/tenants/acme/decisions", ADMIN_TOKEN],
      ] as const) {
        const res = await at(path, k);
        expect(res.status, path).toBe(501);
        expect(res.headers.get("x-should-retry")).toBe("false");
        expect(await res.json()).toMatchObject({ error: { type: "server_error", code: "reports_unavailable" } });
      }
      expect((await at("/v1/usage?from=nope", key)).status).toBe(400);
      expect((await at("/v1/usage?tenant=globex", key)).status).toBe(403);
      // the in-memory decision log is still there
      expect((await at("/admin/decisions", ADMIN_TOKEN)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
