/**
 * The split and its fallback where a routed variant becomes a worker (`Gateway.run`), over workers
 * scripted on the main thread and a real registry in PGlite: a canary's failure is absorbed by the
 * stable version and counted in the canary's window (never on the variant's breaker), a full canary
 * queue is not a sample, a canary answer that fails after tokens the client has not seen yet is
 * answered by the stable version, a committed one that fails is the client's failure, and a slow
 * canary is rolled back by the p95 rule. And what another replica decided is followed (`sync`), never
 * overridden by this one's later verdict.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_CANARY_BOUNDS, routesToCanary } from "../../../router/index.js";
import {
  listTransitions,
  promoteCanary,
  registerVersion,
  rollBackCanary,
  seedRegistry,
  servingVersions,
  setCanaryWeight,
} from "../../db/registry.js";
import { type VariantRow, variants, variantTransitions } from "../../db/schema.js";
import { type TestDatabase, testDatabase } from "../../db/testkit.js";
import { QueueFullError, type VariantWorker } from "../../engines/pool/index.js";
import { Gateway } from "../gateway/gateway.js";
import { answers, failsAfterOneToken, failsAtOnce, type Script, scripted } from "../outcome/testkit.js";
import { CountingLimiter, MapDirectory, memoryLog, TEST_TIERS, TINY_CONFIGS } from "../testkit.js";
import { type CanaryPolicy, VariantVersions } from "./versions.js";

const NAME = "tiny-b158";
const SHA = "a".repeat(64);
const policy: CanaryPolicy = { ...DEFAULT_CANARY_BOUNDS, windowRequests: 200, promoteAfterRequests: null };

/** A scripted runtime with the parts of a pool worker the versions need to start and retire it. */
function scriptedWorker(name: string, script: () => Script): VariantWorker & { closed: boolean } {
  const runtime = scripted(name, script);
  const worker = {
    ...runtime,
    path: "/scripted",
    ready: Promise.resolve(runtime.info!),
    restarts: 0,
    unloads: 0,
    pendingLoadMs: 0,
    waitingAtOrAbove: () => 0,
    // a script holds no KV cache
    kvTokensInUse: 0,
    kvTokenCapacity: null,
    kvTokensReserved: 0,
    batchSize: 0,
    batchSteps: { steps: 0, sequences: 0, largest: 0 },
    closed: false,
    crash() {},
    prewarm() {},
    async close() {
      worker.closed = true;
    },
  };
  return worker;
}

describe("a served variant behind its versions", () => {
  it("shows the stable worker's CPU-budget totals, which the metrics read", () => {
    const stats = { turns: 7, waitMs: 3, heldMs: 11, cores: 1 };
    const worker = { ...scriptedWorker(NAME, () => answers("x")), cpuTurnStats: stats };
    const config = TINY_CONFIGS.find((c) => c.name === NAME)!;
    const versions = new VariantVersions([{ config, worker }], undefined, memoryLog());
    expect(versions.served[0]?.worker.cpuTurnStats).toEqual(stats);
  });
});

const slow: Script = async (onToken, signal, request) => {
  await new Promise((resolve) => setTimeout(resolve, 25));
  return answers("slow")(onToken, signal, request);
};

const queueFull: Script = async () => {
  throw new QueueFullError(NAME, 0);
};

describe("VariantVersions in Gateway.run", () => {
  let db: TestDatabase;
  let canaryRow: VariantRow;
  beforeAll(async () => {
    db = await testDatabase("pglite");
  }, 120_000);
  afterAll(async () => db?.dispose());
  beforeEach(async () => {
    // one database for the file (PGlite takes seconds to open); each test starts from an empty registry
    await db.database.orm.delete(variantTransitions);
    await db.database.orm.delete(variants);
    await seedRegistry(db.database, [
      {
        family: "tiny",
        name: NAME,
        version: "1",
        engine: "bitnet",
        path: "/stable",
        fileSha256: SHA,
        card: {},
        measuredQuality: null,
      },
    ]);
    await registerVersion(
      db.database,
      { name: NAME, version: "2", path: "/canary", fileSha256: SHA, engine: "bitnet" },
      { automatic: false, reason: "test" },
    );
    canaryRow = await setCanaryWeight(db.database, NAME, 0.5, { automatic: false, reason: "test" });
  });

  function gatewayWith(canaryScript: Script, stableScript: Script = answers("stable")) {
    const canary = scriptedWorker(NAME, () => canaryScript);
    const log = memoryLog();
    const gateway = new Gateway({
      directory: new MapDirectory(Object.values(TEST_TIERS)),
      limiter: new CountingLimiter(),
      log,
      variants: [{ config: TINY_CONFIGS[0]!, worker: scripted(NAME, () => stableScript), version: "1" }],
      registry: { database: db.database, policy, startWorker: () => canary, canaries: [canaryRow] },
    });
    return { gateway, canary, log };
  }

  const onCanary = (n: number, prefix = "c") => {
    const ids: string[] = [];
    for (let i = 0; ids.length < n; i++) if (routesToCanary(`${prefix}${i}`, 0.5)) ids.push(`${prefix}${i}`);
    return ids;
  };
  const request = { input: { kind: "text" as const, text: "hi" }, maxTokens: 4 };
  const run = (gateway: Gateway, id: string) => gateway.run([NAME], request, undefined, () => undefined, id);

  it("a canary failing before any token: the stable version answers, the breaker stays closed, and at minRequests it is rolled back", async () => {
    const { gateway, canary, log } = gatewayWith(failsAtOnce);
    const ids = onCanary(policy.minRequests);
    for (const [i, id] of ids.entries()) {
      const out = await run(gateway, id);
      expect(out, `attempt ${i}`).toMatchObject({ variant: NAME, version: "1" });
      expect(gateway.states.breaker(NAME, Date.now())?.state).toBe("closed");
    }
    await gateway.versions.close();
    expect(canary.closed).toBe(true);
    const [last] = await listTransitions(db.database, { variant: NAME, limit: 1 });
    expect(last).toMatchObject({ kind: "rolled_back", automatic: true, version: "2" });
    expect(log.lines.filter((l) => l.includes("engine failure on canary tiny-b158@2"))).toHaveLength(ids.length);
  });

  it("a full canary queue sends the request to the stable version and is not a sample", async () => {
    const { gateway } = gatewayWith(queueFull);
    for (const id of onCanary(policy.minRequests + 10)) expect((await run(gateway, id)).version).toBe("1");
    await gateway.versions.settled();
    const [last] = await listTransitions(db.database, { variant: NAME, limit: 1 });
    expect(last?.kind).toBe("weight");
    const live = (await gateway.versions.list()).find((v) => v.version === "2")?.live;
    expect(live).toMatchObject({ role: "canary", attempts: 0 });
  });

  it("a canary answer that fails after a token the client has not seen (a whole answer) is answered by the stable version", async () => {
    const { gateway } = gatewayWith(failsAfterOneToken);
    const [id] = onCanary(1);
    let retries = 0;
    const out = await gateway.run([NAME], request, undefined, () => undefined, id!, { onRetry: () => retries++ });
    expect(out).toMatchObject({ variant: NAME, version: "1", tried: [NAME] });
    expect(retries).toBe(1);
  });

  it("a canary answer that fails once the client has seen part of it is the client's failure (it was committed)", async () => {
    const { gateway } = gatewayWith(failsAfterOneToken);
    const [id] = onCanary(1);
    const failure = gateway.run([NAME], request, undefined, () => undefined, id!, { committed: () => true });
    await expect(failure).rejects.toMatchObject({ status: 503, code: "engine_failure" });
  });

  it("requests off the canary's side never reach it", async () => {
    const { gateway } = gatewayWith(failsAtOnce);
    for (let i = 0; i < 200; i++) {
      const id = `s${i}`;
      if (routesToCanary(id, 0.5)) continue;
      expect((await run(gateway, id)).version).toBe("1");
    }
    const live = (await gateway.versions.list()).find((v) => v.version === "2")?.live;
    expect(live?.attempts).toBe(0);
  });

  it("a canary many times slower than the stable version is rolled back by the p95 rule", async () => {
    const { gateway } = gatewayWith(slow);
    // the stable window first needs minRequests to compare against
    for (let i = 0, n = 0; n < policy.minRequests; i++) {
      if (routesToCanary(`s${i}`, 0.5)) continue;
      await run(gateway, `s${i}`);
      n++;
    }
    for (const id of onCanary(policy.minRequests)) expect((await run(gateway, id)).version).toBe("2");
    await gateway.versions.settled();
    const [last] = await listTransitions(db.database, { variant: NAME, limit: 1 });
    expect(last).toMatchObject({ kind: "rolled_back", automatic: true });
    expect(last?.reason).toContain("p95 latency");
    expect(last?.figures).toMatchObject({
      rule: "p95_latency",
      canary: { requests: policy.minRequests, successRate: 1 },
    });
    expect((await run(gateway, onCanary(1, "after")[0]!)).version).toBe("1");
  });

  it("follows a rollback and a promotion another replica made (sync), and a canary registered there", async () => {
    const { gateway, canary, log } = gatewayWith(answers("canary"));
    const [id] = onCanary(1);
    expect((await run(gateway, id!)).version).toBe("2");
    await rollBackCanary(db.database, NAME, { automatic: false, reason: "another replica" });
    gateway.versions.sync(await servingVersions(db.database));
    expect((await run(gateway, id!)).version).toBe("1");
    expect(log.lines.some((l) => l.includes(`canary ${NAME}@2 rolled back in the registry`))).toBe(true);

    await registerVersion(
      db.database,
      { name: NAME, version: "3", path: "/canary3", fileSha256: SHA, engine: "bitnet" },
      { automatic: false, reason: "another replica" },
    );
    await setCanaryWeight(db.database, NAME, 0.5, { automatic: false, reason: "another replica" });
    gateway.versions.sync(await servingVersions(db.database));
    await canary.ready;
    expect((await run(gateway, id!)).version).toBe("3");
    await promoteCanary(db.database, NAME, { automatic: false, reason: "another replica" });
    gateway.versions.sync(await servingVersions(db.database));
    for (const key of ["s1", "s2", id!]) expect((await run(gateway, key)).version).toBe("3");
    await gateway.versions.close();
  });

  it("a verdict reached after another replica's changes nothing there: one decision is recorded, and it is followed", async () => {
    const { gateway, log } = gatewayWith(failsAtOnce);
    // another replica promoted the canary before this one's window filled
    await promoteCanary(db.database, NAME, { automatic: false, reason: "another replica" });
    for (const id of onCanary(policy.minRequests)) await run(gateway, id);
    await gateway.versions.settled();
    const decisions = (await listTransitions(db.database, { variant: NAME })).filter(
      (t) => t.kind === "promoted" || t.kind === "rolled_back",
    );
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ kind: "promoted", reason: "another replica" });
    expect(log.lines.some((l) => l.includes(`canary ${NAME}@2: already decided elsewhere`))).toBe(true);
    // the registry says version 2 is active: this gateway loads it as its stable version again
    gateway.versions.sync(await servingVersions(db.database));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect((await gateway.versions.list()).find((v) => v.version === "2")?.live?.role).toBe("stable");
    await gateway.versions.close();
  });
});
