/**
 * Canary rollouts end to end: the nano family on worker threads behind a real gateway on loopback,
 * the registry and the request log in a real database (PGlite, and a database of its own on the
 * local Postgres), driven through the admin API over HTTP and answered to the official openai client.
 *
 * The failing canary is honest: a copy of nano-b158's GGUF whose final norm weights are NaN
 * (`writeNanModel`). It loads like the real file, and every generation on it ends in NaN logits that
 * the sampler refuses: an engine fault per request, which the gateway must absorb (the stable version
 * answers) until the window holds minRequests attempts, then roll the canary back by itself.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CANARY_BOUNDS, routesToCanary } from "../router/index.js";
import { variantSeeds } from "../src/cli/registry.js";
import { hashModelFile } from "../src/db/model-file.js";
import { DatabaseRecorder } from "../src/db/recorder.js";
import { seedRegistry } from "../src/db/registry.js";
import { requests, variants } from "../src/db/schema.js";
import { type TestDatabase, testDatabase } from "../src/db/testkit.js";
import { startVariantWorker, type VariantWorker } from "../src/engines/pool/index.js";
import {
  type CanaryPolicy,
  createGateway,
  type GatewayApp,
  type RunningServer,
  startServer,
} from "../src/server/index.js";
import { ADMIN_TOKEN, MapDirectory, memoryLog, startNanoVariants } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { writeNanModel } from "./helpers/broken-model.js";

const ROOT = join(import.meta.dirname, "..");
const STABLE_FILE = join(ROOT, "models/nano/nano-b158/model.gguf");
const VARIANT = "nano-b158";

/** What the admin API answers: an error, a list, or a row (fields read by the assertions). */
interface AdminBody {
  readonly error: { readonly message: string; readonly param: string | null; readonly code: string | null };
  readonly data: readonly AdminRow[];
  readonly [field: string]: unknown;
}
interface AdminRow {
  readonly name: string;
  readonly version: string;
  readonly status: string;
  readonly kind: string;
  readonly reason: string;
  readonly live: { readonly role: string } | null;
  readonly [field: string]: unknown;
}

interface Harness {
  readonly db: TestDatabase;
  readonly gateway: GatewayApp;
  readonly server: RunningServer;
  readonly client: OpenAI;
  readonly recorder: DatabaseRecorder;
  readonly log: ReturnType<typeof memoryLog>;
  readonly admin: (
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; json: AdminBody }>;
  close(): Promise<void>;
}

async function startHarness(driver: "pglite" | "postgres", policy: CanaryPolicy): Promise<Harness> {
  const db = await testDatabase(driver);
  const { config, workers, variants: served } = await startNanoVariants();
  const absolute = { ...config, variants: config.variants.map((v) => ({ ...v, path: join(ROOT, v.path) })) };
  await seedRegistry(db.database, await variantSeeds(absolute, () => undefined));
  const recorder = await DatabaseRecorder.start({ database: db.database, journalDir: join(db.dir, "journal") });
  const directory = new MapDirectory(config.tiers);
  const key = directory.addTenant("tenant-premium", "premium");
  const limiter = createMemoryRateLimiter();
  const log = memoryLog();
  const started: VariantWorker[] = [];
  const gateway = createGateway({
    directory,
    limiter,
    variants: served,
    recorder,
    adminToken: ADMIN_TOKEN,
    log,
    registry: {
      database: db.database,
      policy,
      startWorker: (name, path) => {
        const worker = startVariantWorker({ name, path, threads: 1, slots: 4 });
        started.push(worker);
        return worker;
      },
    },
  });
  const server = await startServer(gateway.app, { host: "127.0.0.1", port: 0, log });
  const client = new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const admin = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/admin/variants${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as AdminBody };
  };
  return {
    db,
    gateway,
    server,
    client,
    recorder,
    log,
    admin,
    async close() {
      await server.close();
      await gateway.gateway.versions.close();
      await Promise.all([...workers, ...started].map((w) => w.close()));
      await recorder.close();
      await limiter.close();
      await db.dispose();
    },
  };
}

/** Request ids on the canary's side of the split at `weight` (and, with `false`, on the stable side). */
function requestIds(prefix: string, count: number, weight: number, canary = true): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    const id = `${prefix}-${i}`;
    if (routesToCanary(id, weight) === canary) ids.push(id);
  }
  return ids;
}

/** One pinned chat completion; the answer's status, variant and version headers. */
async function ask(h: Harness, requestId: string) {
  const { data, response } = await h.client.chat.completions
    .create(
      { model: VARIANT, messages: [{ role: "user", content: "Tell me about the sea." }], max_tokens: 3 },
      { headers: { "x-request-id": requestId } },
    )
    .withResponse();
  return {
    status: response.status,
    variant: response.headers.get("x-tritgate-variant"),
    version: response.headers.get("x-tritgate-variant-version"),
    requestId: response.headers.get("x-request-id"),
    tokens: data.usage?.completion_tokens ?? 0,
  };
}

async function recordedVersions(h: Harness, ids: readonly string[]): Promise<Map<string, string | null>> {
  await h.recorder.flush();
  const rows = await h.db.database.orm
    .select({ requestId: requests.requestId, variant: requests.variant, version: requests.variantVersion })
    .from(requests)
    .where(eq(requests.variant, VARIANT));
  const wanted = new Set(ids);
  return new Map(rows.filter((r) => wanted.has(r.requestId)).map((r) => [r.requestId, r.version]));
}

describe.each(["pglite", "postgres"] as const)("canary rollouts on %s", (driver) => {
  describe("a canary that fails every generation", () => {
    let h: Harness;
    let nanFile: string;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "tritgate-canary-"));
      nanFile = join(dir, "model-nan.gguf");
      writeNanModel(STABLE_FILE, nanFile);
      h = await startHarness(driver, { ...DEFAULT_CANARY_BOUNDS, windowRequests: 200, promoteAfterRequests: null });
    }, 120_000);
    afterAll(async () => {
      await h?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("refuses a missing file, a wrong sha256 and a second canary with clear errors", async () => {
      const missing = await h.admin("POST", `/${VARIANT}/versions`, { path: join(dir, "nope.gguf") });
      expect(missing.status).toBe(400);
      expect(missing.json.error.message).toContain("no such file");
      expect(missing.json.error.param).toBe("path");
      const wrong = await h.admin("POST", `/${VARIANT}/versions`, { path: nanFile, sha256: "0".repeat(64) });
      expect(wrong.status).toBe(400);
      expect(wrong.json.error.message).toContain("sha256 mismatch");
      const unknown = await h.admin("POST", "/no-such-variant/versions", { path: nanFile });
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe("unknown_variant");
      const relative = await h.admin("POST", `/${VARIANT}/versions`, { path: "model-nan.gguf" });
      expect(relative.status).toBe(400);
      expect(relative.json.error.param).toBe("path");
    });

    it("is registered, loads, gets its weight, and is rolled back automatically once the bound is crossed", async () => {
      const registered = await h.admin("POST", `/${VARIANT}/versions`, { path: nanFile, version: "2" });
      expect(registered.status).toBe(201);
      expect(registered.json).toMatchObject({
        name: VARIANT,
        version: "2",
        status: "canary",
        canaryWeight: 0,
        loaded: true,
      });
      expect(registered.json.fileSha256).toBe(await hashModelFile(nanFile));
      const again = await h.admin("POST", `/${VARIANT}/versions`, { path: STABLE_FILE });
      expect(again.status).toBe(409);
      expect(again.json.error.code).toBe("canary_exists");

      const weight = 0.5;
      const weighted = await h.admin("POST", `/${VARIANT}/canary`, { weight });
      expect(weighted.status).toBe(200);
      expect(weighted.json.canaryWeight).toBe(weight);

      // requests on the canary's side: each fails on the canary and is answered by the stable version
      const ids = requestIds(`${driver}-fail`, DEFAULT_CANARY_BOUNDS.minRequests, weight);
      for (const [i, id] of ids.entries()) {
        const answer = await ask(h, id);
        expect(answer, `request ${i}`).toMatchObject({ status: 200, variant: VARIANT, version: "1", requestId: id });
      }
      await h.gateway.gateway.versions.settled();

      const transitions = await h.admin("GET", `/transitions?variant=${VARIANT}&limit=10`);
      expect(transitions.status).toBe(200);
      const [last] = transitions.json.data;
      expect(last).toMatchObject({
        kind: "rolled_back",
        version: "2",
        stableVersion: "1",
        automatic: true,
        canaryWeight: 0,
      });
      expect(last?.reason).toContain("success rate 0.00%");
      expect(last?.reason).toContain(`last ${DEFAULT_CANARY_BOUNDS.minRequests} requests`);
      expect(last?.figures).toMatchObject({
        rule: "success_rate",
        canary: { requests: DEFAULT_CANARY_BOUNDS.minRequests, successes: 0, successRate: 0 },
        bounds: { minRequests: 50, minSuccessRate: 0.99 },
      });
      expect(transitions.json.data.map((t) => t.kind)).toEqual(["rolled_back", "weight", "registered", "registered"]);
      const [row] = await h.db.database.orm.select().from(variants).where(eq(variants.version, "2"));
      expect(row).toMatchObject({ name: VARIANT, status: "retired", canaryWeight: 0 });
      expect(h.log.lines.some((l) => l.includes(`canary ${VARIANT}@2 rolled back`))).toBe(true);

      // afterwards the stable version serves everything, ids on either side of the split alike
      const later = [...requestIds(`${driver}-after`, 10, weight), ...requestIds(`${driver}-after`, 10, weight, false)];
      for (const id of later) expect(await ask(h, id)).toMatchObject({ status: 200, version: "1" });
      const list = await h.admin("GET", "");
      const versions = list.json.data.filter((v) => v.name === VARIANT);
      expect(versions.map((v) => [v.version, v.status])).toEqual([
        ["1", "active"],
        ["2", "retired"],
      ]);
      expect(versions[0]?.live?.role).toBe("stable");

      const recorded = await recordedVersions(h, [...ids, ...later]);
      expect(recorded.size).toBe(ids.length + later.length);
      expect(new Set(recorded.values())).toEqual(new Set(["1"]));
      // a rolled-back canary is gone: nothing to promote
      const promote = await h.admin("POST", `/${VARIANT}/promote`, {});
      expect(promote.status).toBe(404);
      expect(promote.json.error.code).toBe("no_canary");
    }, 180_000);
  });

  describe("a healthy canary (the same nano file as version 2)", () => {
    let h: Harness;
    const promoteAfter = 60;
    beforeAll(async () => {
      // the latency bound is generous here: this test is about promotion; the p95 rule has its unit tests
      h = await startHarness(driver, {
        ...DEFAULT_CANARY_BOUNDS,
        maxP95Ratio: 10,
        windowRequests: 200,
        promoteAfterRequests: promoteAfter,
      });
    }, 120_000);
    afterAll(async () => {
      await h?.close();
    });

    it("is promoted after promoteAfterRequests within bounds, and serves everything afterwards", async () => {
      const sha256 = await hashModelFile(STABLE_FILE);
      const registered = await h.admin("POST", `/${VARIANT}/versions`, { path: STABLE_FILE, sha256 });
      expect(registered.status).toBe(201);
      expect(registered.json).toMatchObject({ version: "2", status: "canary", loaded: true });
      const weight = 0.5;
      expect((await h.admin("POST", `/${VARIANT}/canary`, { weight })).status).toBe(200);

      // the stable window needs minRequests before latency (and so promotion) is judged
      const stableIds = requestIds(`${driver}-stable`, DEFAULT_CANARY_BOUNDS.minRequests, weight, false);
      for (const id of stableIds) expect(await ask(h, id)).toMatchObject({ status: 200, version: "1" });
      const canaryIds = requestIds(`${driver}-canary`, promoteAfter, weight);
      for (const id of canaryIds) expect(await ask(h, id)).toMatchObject({ status: 200, version: "2" });
      await h.gateway.gateway.versions.settled();

      const transitions = await h.admin("GET", `/transitions?variant=${VARIANT}&limit=1`);
      const [last] = transitions.json.data;
      expect(last).toMatchObject({ kind: "promoted", version: "2", stableVersion: "1", automatic: true });
      expect(last?.reason).toContain(`within bounds after ${promoteAfter} requests`);
      expect(last?.figures).toMatchObject({ rule: "healthy", canaryTotal: promoteAfter, canary: { successRate: 1 } });
      const rows = await h.db.database.orm.select().from(variants).where(eq(variants.name, VARIANT));
      expect(rows.map((r) => [r.version, r.status]).sort()).toEqual([
        ["1", "retired"],
        ["2", "active"],
      ]);

      // every later request is version 2, on either side of the old split
      const after = [...requestIds(`${driver}-post`, 5, weight), ...requestIds(`${driver}-post`, 5, weight, false)];
      for (const id of after) expect(await ask(h, id)).toMatchObject({ status: 200, version: "2" });
      const recorded = await recordedVersions(h, [...stableIds, ...canaryIds, ...after]);
      expect([...stableIds].map((id) => recorded.get(id))).toEqual(stableIds.map(() => "1"));
      expect([...canaryIds, ...after].map((id) => recorded.get(id))).toEqual([...canaryIds, ...after].map(() => "2"));
    }, 180_000);

    it("an operator's rollback of a new canary is recorded as manual and keeps version 2 serving", async () => {
      const registered = await h.admin("POST", `/${VARIANT}/versions`, { path: STABLE_FILE });
      expect(registered.json.version).toBe("3");
      const rolled = await h.admin("POST", `/${VARIANT}/rollback`, { reason: "changed my mind" });
      expect(rolled.status).toBe(200);
      expect(rolled.json).toMatchObject({ version: "3", status: "retired" });
      const [last] = (await h.admin("GET", `/transitions?variant=${VARIANT}&limit=1`)).json.data;
      expect(last).toMatchObject({ kind: "rolled_back", version: "3", automatic: false, reason: "changed my mind" });
      expect(await ask(h, "after-manual-rollback")).toMatchObject({ status: 200, version: "2" });
    }, 60_000);
  });
});
