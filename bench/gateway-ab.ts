/**
 * `npx tsx bench/gateway-ab.ts --baseline DIR [--rate 200] [--phase-ms 2000] [--cycles 12] [--json FILE]`
 *
 * Before/after on a shared, noisy machine: the bare Hono route, the gateway of another checkout (DIR, e.g.
 * `git worktree add DIR <commit>` with this tree's node_modules linked in) and this tree's gateway, both over
 * an engine that answers at once, served from one process and loaded by the same open-loop generator as
 * `bench/gateway.ts`. Phases cycle anchor → baseline → this tree (reversed every other cycle), so load from
 * elsewhere on the machine hits all three alike; the figures are medians over cycles of the server's
 * event-loop time per request and of each phase's p50 / p99 latency, and the per-cycle ratios to the anchor.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { serve } from "@hono/node-server";
import { MapDirectory, TINY_CONFIGS, tierConfig } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { bareRouteApp, instantRuntime } from "./gateway/instant.js";
import type { FromLoadgen, PhaseSamples, PhaseSpec, ToLoadgen } from "./gateway/loadgen.js";
import { argValue, writeJson } from "./timing.js";

const baseline = argValue("--baseline");
if (!baseline) throw new Error("--baseline DIR (a checkout of the commit to compare with) is required");
const RATE = Number(argValue("--rate") ?? 200);
const PHASE_MS = Number(argValue("--phase-ms") ?? 2000);
const CYCLES = Number(argValue("--cycles") ?? 12);
const jsonPath = argValue("--json");
const after = await import("../src/server/app.js");
const afterServe = await import("../src/server/serve.js");
const before = await import(pathToFileURL(resolve(baseline, "src/server/app.ts")).href);
const beforeServe = await import(pathToFileURL(resolve(baseline, "src/server/serve.ts")).href);

const tier = tierConfig({ name: "bench", requestsPerMinute: 1e9, tokensPerMinute: 1e12 });
const directory = new MapDirectory([tier]);
const key = directory.addTenant("bench", "bench");
const variants = TINY_CONFIGS.map((config) => ({ config, worker: instantRuntime(config.name) }));
const gwAfter = after.createGateway({ directory, limiter: createMemoryRateLimiter(), variants });
const gwBefore = before.createGateway({ directory, limiter: createMemoryRateLimiter(), variants } as never);
const sAfter = await afterServe.startServer(gwAfter.app, { host: "127.0.0.1", port: 0 });
const sBefore = await beforeServe.startServer(gwBefore.app as never, { host: "127.0.0.1", port: 0 });
const anchorApp = bareRouteApp();
const anchorPort: number = await new Promise((r) =>
  serve({ fetch: anchorApp.fetch, hostname: "127.0.0.1", port: 0 }, (i) => r(i.port)),
);

const entry = new URL("./gateway/loadgen.ts", import.meta.url).href;
const worker = new Worker(new URL("../src/engines/pool/tsx-entry.mjs", import.meta.url), { workerData: { entry } });
const pending = new Map<number, (s: PhaseSamples) => void>();
let nextId = 1;
worker.on("message", (m: FromLoadgen) => {
  pending.get(m.id)?.(m.samples);
  pending.delete(m.id);
});
const run = (spec: PhaseSpec) =>
  new Promise<PhaseSamples>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    worker.postMessage({ type: "run", id, spec } satisfies ToLoadgen);
  });

const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const urls = {
  anchor: `http://127.0.0.1:${anchorPort}/v1/chat/completions`,
  before: `${sBefore.url}/v1/chat/completions`,
  after: `${sAfter.url}/v1/chat/completions`,
};
type T = keyof typeof urls;
const res: Record<T, { loop: number[]; p50: number[]; p99: number[] }> = {
  anchor: { loop: [], p50: [], p99: [] },
  before: { loop: [], p50: [], p99: [] },
  after: { loop: [], p50: [], p99: [] },
};
const q = (v: number[], f: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(f * s.length) - 1))]!;
};
async function phase(t: T, record: boolean, ms = PHASE_MS) {
  const elu0 = performance.eventLoopUtilization();
  const s = await run({ url: urls[t], headers, body, rate: RATE, durationMs: ms, timeoutMs: 10_000 });
  const elu = performance.eventLoopUtilization(elu0);
  await new Promise((r) => setTimeout(r, 200));
  const ok = [...s.latencyMs].filter((_x, i) => s.status[i] === 200);
  if (ok.length !== s.status.length)
    process.stderr.write(
      `${t}: statuses ${JSON.stringify([...new Set(s.status)])} ${s.status.length - ok.length} errors\n`,
    );
  if (record) {
    res[t].loop.push(elu.active / s.status.length);
    res[t].p50.push(q(ok, 0.5));
    res[t].p99.push(q(ok, 0.99));
  }
}
for (const t of ["anchor", "before", "after"] as T[]) await phase(t, false, 2000);
for (let c = 0; c < CYCLES; c++) {
  const order: T[] = c % 2 === 0 ? ["anchor", "before", "after"] : ["after", "before", "anchor"];
  for (const t of order) await phase(t, true);
  process.stderr.write(`cycle ${c + 1}/${CYCLES}\n`);
}
const out: Record<string, unknown> = {
  benchmark: "gateway-ab",
  baseline,
  rate: RATE,
  phaseMs: PHASE_MS,
  cycles: CYCLES,
  date: new Date().toISOString(),
};
for (const t of ["anchor", "before", "after"] as T[]) {
  const r = res[t];
  out[t] = {
    loopMsPerRequest: { median: q(r.loop, 0.5), all: r.loop },
    latencyP50Ms: { median: q(r.p50, 0.5) },
    latencyP99Ms: { median: q(r.p99, 0.5), all: r.p99 },
  };
}
const m = (t: T, k: "loop" | "p99" | "p50") => q(res[t][k], 0.5);
if (jsonPath) writeJson(jsonPath, out);
console.log(
  `median server loop ms/req: anchor ${m("anchor", "loop").toFixed(3)}, before ${m("before", "loop").toFixed(3)} (${(m("before", "loop") / m("anchor", "loop")).toFixed(2)}x), after ${m("after", "loop").toFixed(3)} (${(m("after", "loop") / m("anchor", "loop")).toFixed(2)}x)`,
);
console.log(
  `median p50 / p99 latency ms: anchor ${m("anchor", "p50").toFixed(3)} / ${m("anchor", "p99").toFixed(3)}, before ${m("before", "p50").toFixed(3)} / ${m("before", "p99").toFixed(3)}, after ${m("after", "p50").toFixed(3)} / ${m("after", "p99").toFixed(3)}`,
);
// per-cycle ratios
const ratios = (t: T) => res[t].loop.map((x, i) => x / res.anchor.loop[i]!);
console.log(
  `per-cycle loop ratio vs anchor: before median ${q(ratios("before"), 0.5).toFixed(2)}, after median ${q(ratios("after"), 0.5).toFixed(2)}`,
);
await sAfter.close();
await sBefore.close();
await worker.terminate();
process.exit(0);
