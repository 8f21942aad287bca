import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterEach, describe, expect, it } from "vitest";
import { POSTGRES_ADMIN_URL } from "../../db/testkit.js";
import { RUNNING_FILE } from "../running-gateway.js";
import { migrateCommand } from "./migrate.js";
import { runCaptured } from "./testkit.js";

const cli = (args: string[]) => runCaptured(migrateCommand, args);

describe("tritgate migrate", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it("does not open PGlite a running gateway holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-migrate-held-"));
    const gateway = spawn("sleep", ["60"], { stdio: "ignore" }); // another live process stands for it
    cleanups.push(async () => {
      gateway.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    writeFileSync(join(dir, RUNNING_FILE), JSON.stringify({ pid: gateway.pid }));
    const r = await cli(["--state-dir", dir, "--database-url", ""]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/a gateway \(pid \d+\) is serving from .* stop it first/);
    expect(existsSync(join(dir, "pglite"))).toBe(false);
  });

  it("migrates PGlite in the state directory, and again is a no-op", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-migrate-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const args = ["--state-dir", dir, "--database-url", "", "--json"];
    const first = await cli(args);
    expect(first.code).toBe(0);
    const status = JSON.parse(first.out) as { driver: string; applied: number; total: number };
    expect(status.driver).toBe("pglite");
    expect(status.applied).toBe(status.total);
    expect(status.total).toBeGreaterThanOrEqual(2);
    expect(JSON.parse((await cli(args)).out)).toEqual(status);
  });

  it("migrates the Postgres at --database-url and says where without the password", async () => {
    const name = `tritgate_migrate_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    cleanups.push(async () => {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    });
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    url.password = "not-a-secret";
    const run = await cli(["--database-url", url.toString(), "--state-dir", tmpdir()]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/migrations applied/);
    expect(run.out).not.toContain("not-a-secret");
    const [row] = await admin.unsafe(`SELECT 1 FROM pg_database WHERE datname = '${name}'`);
    expect(row).toBeDefined();
  });

  it("fails with a message, not a stack, when the database cannot be reached", async () => {
    const run = await cli(["--database-url", "postgres://postgres@127.0.0.1:1/none", "--state-dir", tmpdir()]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^tritgate migrate: /);
  });
});
