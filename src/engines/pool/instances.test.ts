/**
 * A variant on several worker threads behind one handle (`startVariantInstances`): requests spread
 * over the instances by their load, each generation gets the tokens it gets on a single worker, the
 * handle's counters are the instances' sums, and a model that cannot load fails the group cleanly.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PoolResult, startVariantInstances, startVariantWorker, type VariantWorker } from "./index.js";

const NANO = join(import.meta.dirname, "../../../models/nano/nano-b158/model.gguf");
const PROMPTS = ["Once upon a time", "The little dog", "She opened the door", "In the morning"];

function ask(worker: VariantWorker, text: string): Promise<PoolResult> {
  return worker.generate({
    input: { kind: "text", text },
    maxTokens: 12,
    ignoreEos: true,
    sampling: { temperature: 0 },
  });
}
const ids = (r: PoolResult) => r.tokens.map((t) => t.id);

describe("variant instances", () => {
  let group: VariantWorker;
  let single: VariantWorker;
  beforeAll(async () => {
    group = startVariantInstances({ name: "nano", path: NANO, threads: 1, slots: 2, instances: 2 });
    single = startVariantWorker({ name: "nano", path: NANO, threads: 1, slots: 1 });
    await Promise.all([group.ready, single.ready]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([group.close(), single.close()]);
  });

  it("sums the instances' slots and KV budgets", async () => {
    const info = await group.ready;
    expect(group.state).toBe("ready");
    expect(group.slots).toBe(4);
    expect(group.kvTokenCapacity).toBe(2 * (single.kvTokenCapacity ?? 0) * 2);
    expect(info.kvTokenBudget).toBe(group.kvTokenCapacity);
  });

  it("spreads concurrent requests over the instances, each answering as a single worker does", async () => {
    const want = [];
    for (const text of PROMPTS) want.push(ids(await ask(single, text)));
    const before = group.batchSteps;
    // two at once: one on each instance, so no step carries both
    const pair = await Promise.all(PROMPTS.slice(0, 2).map((text) => ask(group, text)));
    expect(pair.map(ids)).toEqual(want.slice(0, 2));
    expect(group.batchSteps.largest).toBe(Math.max(before.largest, 1));
    // four at once on 2 x 2 slots: two per instance, batched in pairs, all running together
    const four = Promise.all(PROMPTS.map((text) => ask(group, text)));
    expect(group.running).toBe(4);
    expect(group.waiting).toBe(0);
    expect((await four).map(ids)).toEqual(want);
    expect(group.batchSteps.largest).toBe(2);
    expect(group.running).toBe(0);
  });
});

describe("variant instances whose model cannot load", () => {
  it("fail as one variant: ready rejects, the state says failed and why", async () => {
    const group = startVariantInstances({ name: "missing", path: "/nonexistent/model.gguf", instances: 2 });
    await expect(group.ready).rejects.toThrow();
    expect(group.state).toBe("failed");
    expect(group.error).toMatch(/nonexistent|no such file|ENOENT/i);
    await group.close();
    expect(group.state).toBe("closed");
  });
});
