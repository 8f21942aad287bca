import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/index.js";
import { recordThrough, sumsOf, usageEntries, within } from "../../db/reports/testkit.js";
import { runCaptured } from "./testkit.js";
import { usageCommand } from "./usage.js";

const cli = (args: string[]) => runCaptured(usageCommand, args);

const ENTRIES = usageEntries(90);

describe("tritgate usage (PGlite in the state directory)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tg-usage-cli-"));
  const base = ["--state-dir", dir, "--database-url", "", "--from", "2026-11-27", "--to", "2026-12-01"];

  beforeAll(async () => {
    const database = await openDatabase({ url: "", stateDir: dir });
    try {
      await recordThrough(database, join(dir, "journal"), ENTRIES);
    } finally {
      await database.close();
    }
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints one tenant's report as JSON, the sums of its rows", async () => {
    const run = await cli([...base, "--tenant", "acme", "--json"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as { tenant: string; groupBy: string; totals: Record<string, number> };
    const want = sumsOf(within(ENTRIES, "2026-11-27", "2026-12-01", "acme"));
    expect(report).toMatchObject({ tenant: "acme", groupBy: "variant" });
    expect(report.totals).toMatchObject({ requests: want.requests, cost: want.cost, tokensOut: want.tokensOut });
  });

  it("prints every tenant as a table with a total row", async () => {
    const run = await cli(base);
    expect(run.code).toBe(0);
    const lines = run.out.trim().split("\n");
    expect(lines[0]).toBe("usage 2026-11-27 .. 2026-12-01 (UTC days, inclusive)");
    expect(lines[1]).toMatch(/^tenant\s+requests\s+errors\s+sla_misses/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(["acme", "globex", "initech", "total"]);
    expect(lines.at(-1)?.split(/\s+/)[1]).toBe(String(ENTRIES.length));
  });

  it("refuses a bad day or grouping with exit 2 naming the option", async () => {
    const bad = await cli(["--state-dir", dir, "--from", "2026-02-30"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--from/);
    const group = await cli(["--state-dir", dir, "--group-by", "hour"]);
    expect(group.code).toBe(2);
    expect(group.err).toMatch(/--group-by/);
  });
});
