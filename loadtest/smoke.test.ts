/**
 * The acceptance check CI runs: `npm run loadtest -- --profile smoke` as a user runs it (a child
 * process that starts the real `tritgate serve` with the committed nano models), exit code 0, and a
 * JSON report in which every tier of the embedded config was offered load, answered it and met the
 * thresholds its own SLA sets. The smoke rates are low (1.2 requests/s in all, see scenarios.ts) so that
 * a breach on a shared CI machine points at the gateway. The gateway records into a fresh database on
 * the local PostgreSQL (PGlite's start-up alone takes tens of seconds on a loaded machine), and every
 * request sent must be there once the gateway has stopped.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../src/config/defaults.js";
import { testDatabase } from "../src/db/testkit.js";
import type { LoadReport } from "./load.js";
import { SCENARIOS } from "./scenarios.js";

const ROOT = resolve(import.meta.dirname, "..");

function runSmoke(json: string, databaseUrl: string): Promise<{ code: number | null; output: string }> {
  const args = [
    "--import",
    "tsx",
    "loadtest/run.ts",
    "--profile",
    "smoke",
    "--json",
    json,
    "--database-url",
    databaseUrl,
  ];
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (b: Buffer) => {
      output += b.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("exit", (code) => done({ code, output }));
  });
}

/** Exit 0 is the runner's verdict; this checks that the verdict rests on measurements of every tier. */
function checkReport(report: LoadReport, output: string): void {
  const tiers = defaultConfig().tiers;
  expect(report.passed).toBe(true);
  expect(report.breaches).toEqual([]);
  expect(report.tiers.map((t) => t.tier)).toEqual(tiers.map((t) => t.name));
  for (const t of report.tiers) {
    const tier = tiers.find((c) => c.name === t.tier)!;
    expect(t.thresholds.ttftP95Ms).toBe(tier.ttftSlaMs);
    expect(t.sent).toBeGreaterThan(0);
    expect(t.answered).toBe(t.sent);
    expect(t.streamed).toBeGreaterThan(0);
    expect(t.ttftMs.p95).toBeLessThanOrEqual(tier.ttftSlaMs);
    expect(t.durationMs.p95).toBeLessThanOrEqual(tier.totalSlaMs);
    // every answer came from a variant the tier may use (the free tier: the ternary one only)
    expect(Object.values(t.variants).reduce((a, b) => a + b, 0)).toBe(t.answered);
    for (const variant of Object.keys(t.variants)) expect(tier.allowedVariants).toContain(variant);
  }
  // the table the user reads
  expect(output).toMatch(/^tier\s+offered\/s\s+achieved\/s/m);
  expect(output).toMatch(/every tier met its thresholds/);
}

describe("npm run loadtest -- --profile smoke", () => {
  it("starts its own gateway, loads every tier open-loop and meets each tier's SLA", { timeout: 150_000 }, async () => {
    const json = join(mkdtempSync(join(tmpdir(), "tg-smoke-")), "report.json");
    const db = await testDatabase("postgres");
    try {
      const { code, output } = await runSmoke(json, db.url!);
      expect(code, output).toBe(0);
      const report = JSON.parse(readFileSync(json, "utf8")) as LoadReport;
      checkReport(report, output);
      // SIGTERM drained the gateway's recorder: every request, warm-up included, is recorded once
      const warmups = SCENARIOS.profiles.smoke.warmupRequestsPerTier * report.tiers.length;
      const sent = report.tiers.reduce((n, t) => n + t.sent, 0) + warmups;
      const rows = await db.database.rows<{ requests: number; ids: number }>(
        sql`select count(*)::int as requests, count(distinct request_id)::int as ids from requests`,
      );
      expect(rows[0]).toEqual({ requests: sent, ids: sent });
    } finally {
      await db.dispose();
    }
  });
});
