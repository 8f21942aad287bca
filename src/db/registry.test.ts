/**
 * The registry as several gateways share it, on a real Postgres (a database of this test's): every
 * change moves `registry.version`, a second pool polling it (`watchRegistry`) loads the change, and a
 * canary controller's verdict is conditioned on the judged version still being the canary, so the
 * first verdict wins and a stale one (another replica's window, or a canary replaced meanwhile) changes
 * nothing and records nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "./open.js";
import { readVersion } from "./polled.js";
import {
  decideCanary,
  listTransitions,
  REGISTRY_VERSION_SETTING,
  registerVersion,
  rollBackCanary,
  type ServingVersions,
  seedRegistry,
  servingVersions,
  watchRegistry,
} from "./registry.js";
import { type TestDatabase, testDatabase } from "./testkit.js";

const SEED = {
  family: "nano",
  name: "nano-b158",
  version: "1",
  engine: "bitnet" as const,
  path: "/models/v1.gguf",
  fileSha256: "a".repeat(64),
  card: {},
  measuredQuality: null,
};
const OPERATOR = { automatic: false, reason: "test" };
const CONTROLLER = { automatic: true, reason: "window judged" };

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.dispose();
  db = undefined;
});

async function withCanary(version = "2"): Promise<TestDatabase> {
  const made = await testDatabase("postgres");
  await seedRegistry(made.database, [SEED]);
  await registerVersion(
    made.database,
    { name: SEED.name, version, path: `/models/v${version}.gguf`, fileSha256: "b".repeat(64), engine: "bitnet" },
    OPERATOR,
  );
  return made;
}

const serving = async (t: TestDatabase): Promise<ServingVersions | undefined> =>
  (await servingVersions(t.database)).find((s) => s.name === SEED.name);

describe("the registry shared by replicas (Postgres)", () => {
  it("moves registry.version with every transition", async () => {
    db = await testDatabase("postgres");
    const before = Number(await readVersion(db.database.orm, REGISTRY_VERSION_SETTING));
    await seedRegistry(db.database, [SEED]);
    const seeded = Number(await readVersion(db.database.orm, REGISTRY_VERSION_SETTING));
    expect(seeded).toBe(before + 1);
    await seedRegistry(db.database, [SEED]); // known already: no change, no bump
    expect(Number(await readVersion(db.database.orm, REGISTRY_VERSION_SETTING))).toBe(seeded);
    await registerVersion(
      db.database,
      { name: SEED.name, path: "/models/v2.gguf", fileSha256: "b".repeat(64), engine: "bitnet" },
      OPERATOR,
    );
    await rollBackCanary(db.database, SEED.name, OPERATOR);
    expect(Number(await readVersion(db.database.orm, REGISTRY_VERSION_SETTING))).toBe(seeded + 2);
  });

  it("the first verdict on a canary wins; a second, from another replica's window, changes nothing", async () => {
    db = await withCanary();
    const [rollback, promote] = await Promise.all([
      decideCanary(db.database, SEED.name, "2", "rollback", CONTROLLER),
      decideCanary(db.database, SEED.name, "2", "promote", CONTROLLER),
    ]);
    expect([rollback, promote].filter(Boolean)).toHaveLength(1);
    const now = await serving(db);
    if (rollback) expect(now).toMatchObject({ active: { version: "1" }, canary: undefined });
    else expect(now).toMatchObject({ active: { version: "2" }, canary: undefined });
    // again, as a replica that has not reloaded yet would: nothing
    expect(await decideCanary(db.database, SEED.name, "2", "rollback", CONTROLLER)).toBe(false);
    const decided = (await listTransitions(db.database, { variant: SEED.name })).filter(
      (t) => t.kind === "promoted" || t.kind === "rolled_back",
    );
    expect(decided).toHaveLength(1);
  });

  it("a verdict on a version that is no longer the canary does not touch its successor", async () => {
    db = await withCanary("2");
    await rollBackCanary(db.database, SEED.name, OPERATOR);
    await registerVersion(
      db.database,
      { name: SEED.name, version: "3", path: "/models/v3.gguf", fileSha256: "c".repeat(64), engine: "bitnet" },
      OPERATOR,
    );
    // a replica still judging version 2 on its old window promotes it: refused, version 3 stays the canary
    expect(await decideCanary(db.database, SEED.name, "2", "promote", CONTROLLER)).toBe(false);
    expect(await serving(db)).toMatchObject({ active: { version: "1" }, canary: { version: "3" } });
  });

  it("another pool watching the registry loads a rollback within its refresh interval", async () => {
    db = await withCanary();
    const other = await openDatabase({ url: db.url as string, stateDir: db.stateDir });
    const loads: ServingVersions[][] = [];
    const watch = await watchRegistry(other, { refreshMs: 50, onLoad: (s) => loads.push(s) });
    try {
      expect(watch.current().find((s) => s.name === SEED.name)?.canary?.version).toBe("2");
      await rollBackCanary(db.database, SEED.name, OPERATOR);
      const deadline = Date.now() + 30_000;
      while (watch.current().find((s) => s.name === SEED.name)?.canary !== undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(watch.current().find((s) => s.name === SEED.name)).toMatchObject({
        active: { version: "1" },
        canary: undefined,
      });
      expect(loads.length).toBeGreaterThan(0);
    } finally {
      watch.close();
      await other.close();
    }
  });
});
