/**
 * `tritgate variants` both ways it reaches the registry: the database itself (PGlite in a fresh
 * state directory) when no gateway runs, and a running gateway's admin API when the state
 * directory's gateway.json names a live one — never opening the PGlite that gateway holds.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_CANARY_BOUNDS } from "../../../router/index.js";
import { type TestDatabase, testDatabase } from "../../db/testkit.js";
import { startVariantWorker, type VariantWorker } from "../../engines/pool/index.js";
import { createGateway, type RunningServer, startServer } from "../../server/index.js";
import { ADMIN_TOKEN, MapDirectory, memoryLog, startNanoVariants } from "../../server/testkit.js";
import { createMemoryRateLimiter } from "../../tenants/index.js";
import { seedFromConfig } from "../registry.js";
import { RUNNING_FILE } from "../running-gateway.js";
import { runCaptured } from "./testkit.js";
import { variantsCommand } from "./variants.js";

const ROOT = join(import.meta.dirname, "../../..");
const B158 = join(ROOT, "models/nano/nano-b158/model.gguf");

const cli = (args: string[]) => runCaptured(variantsCommand, args);

const dirs: string[] = [];
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tg-variants-"));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe("tritgate variants, no gateway running: the database itself", () => {
  it("lists the config's variants, registers, weights and promotes a version, and shows the transitions", async () => {
    vi.stubEnv("DATABASE_URL", "");
    const base = ["--state-dir", stateDir()];
    const list = await cli(["list", ...base]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/nano-b158\s+1\s+active/);
    expect(list.out).toMatch(/nano-fp32\s+1\s+active/);
    expect(list.out).toContain("(PGlite in");

    const missing = await cli(["register", "nano-b158", "--path", join(base[1]!, "none.gguf"), ...base]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("none.gguf: no such file");
    const wrongEngine = await cli([
      "register",
      "nano-b158",
      "--path",
      join(ROOT, "models/nano/nano-fp32/model.onnx"),
      ...base,
    ]);
    expect(wrongEngine.code).toBe(1);
    expect(wrongEngine.err).toContain("runs on bitnet");

    const registered = await cli(["register", "nano-b158", "--path", B158, ...base]);
    expect(registered.code).toBe(0);
    expect(registered.out).toContain("nano-b158@2: canary, weight 0");
    expect((await cli(["canary", "nano-b158", "--weight", "1.5", ...base])).code).toBe(2);
    const weighted = await cli(["canary", "nano-b158", "--weight", "0.25", ...base]);
    expect(weighted.out).toContain("nano-b158@2: canary, weight 0.25");
    const promoted = await cli(["promote", "nano-b158", "--reason", "checked by hand", ...base]);
    expect(promoted.code).toBe(0);
    expect(promoted.out).toContain("nano-b158@2: active");

    const transitions = await cli(["transitions", "nano-b158", "--json", ...base]);
    const rows = JSON.parse(transitions.out) as { kind: string; automatic: boolean; reason: string }[];
    expect(rows.map((r) => r.kind)).toEqual(["promoted", "weight", "registered", "registered"]);
    expect(rows[0]).toMatchObject({ automatic: false, reason: "checked by hand" });
    expect((await cli(["rollback", "nano-b158", ...base])).err).toContain("has no canary version");
  }, 120_000);
});

describe("tritgate variants, a gateway running from the state directory: its admin API", () => {
  let db: TestDatabase;
  let server: RunningServer;
  let close: () => Promise<void>;
  let state: string;
  beforeAll(async () => {
    db = await testDatabase("pglite");
    const { config, workers, variants } = await startNanoVariants();
    const absolute = { ...config, variants: config.variants.map((v) => ({ ...v, path: join(ROOT, v.path) })) };
    await seedFromConfig(db.database, absolute, () => undefined);
    const started: VariantWorker[] = [];
    const limiter = createMemoryRateLimiter();
    const parts = createGateway({
      directory: new MapDirectory(config.tiers),
      limiter,
      variants,
      adminToken: ADMIN_TOKEN,
      log: memoryLog(),
      registry: {
        database: db.database,
        policy: { ...DEFAULT_CANARY_BOUNDS, windowRequests: 200 },
        startWorker: (name, path) => {
          const w = startVariantWorker({ name, path, threads: 1 });
          started.push(w);
          return w;
        },
      },
    });
    server = await startServer(parts.app, { host: "127.0.0.1", port: 0 });
    state = stateDir();
    // the gateway is served by this test process; gateway.json must name a live process other than the
    // CLI's own (which runs in this process too), so it names the parent (vitest's main process)
    writeFileSync(join(state, RUNNING_FILE), JSON.stringify({ pid: process.ppid, url: server.url }));
    close = async () => {
      await server.close();
      await parts.gateway.versions.close();
      await Promise.all([...workers, ...started].map((w) => w.close()));
      await limiter.close();
      await db.dispose();
    };
  }, 120_000);
  afterAll(async () => close?.());

  it("refuses without the admin token, saying why, instead of opening the database", async () => {
    vi.stubEnv("TRITGATE_ADMIN_TOKEN", "");
    const { code, err } = await cli(["list", "--state-dir", state]);
    expect(code).toBe(1);
    expect(err).toContain(`a gateway (pid ${process.ppid}) is serving from ${state}`);
    expect(err).toContain("TRITGATE_ADMIN_TOKEN");
  });

  it("drives the gateway: a registered version is loaded beside the stable one at once", async () => {
    vi.stubEnv("TRITGATE_ADMIN_TOKEN", ADMIN_TOKEN);
    const registered = await cli(["register", "nano-b158", "--path", B158, "--state-dir", state]);
    expect(registered.code).toBe(0);
    expect(registered.out).toContain(`nano-b158@2: canary, weight 0 (the gateway at ${server.url})`);
    const list = await cli(["list", "--json", "--state-dir", state]);
    const rows = JSON.parse(list.out) as {
      name: string;
      version: string;
      live: { role: string; worker: string } | null;
    }[];
    const b158 = rows.filter((r) => r.name === "nano-b158");
    expect(b158.map((r) => [r.version, r.live?.role, r.live?.worker])).toEqual([
      ["1", "stable", "ready"],
      ["2", "canary", "ready"],
    ]);
    const byUrl = await cli(["list", "--url", server.url, "--state-dir", state]);
    expect(byUrl.code).toBe(0);
    vi.stubEnv("TRITGATE_ADMIN_TOKEN", "not-the-admin-token-at-all");
    const refused = await cli(["list", "--url", server.url, "--state-dir", state]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("the gateway answered 401: Invalid admin token.");
  }, 120_000);
});
