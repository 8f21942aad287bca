/**
 * The dashboards proven against a real Prometheus: it scrapes a gateway serving mixed traffic from the
 * nano variants (streamed and not, several tiers, degraded, fallback, escalated and rejected
 * requests), and every query of every panel — rows' panels included, variables substituted — must
 * run without error and return at least one finite sample.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPrometheus, startPrometheus, untilScraped } from "./prometheus.js";
import { panelQueries, substitutePromql } from "./queries.js";
import { FAIL_MARKER, type MetricsGateway, startMetricsGateway } from "./testkit.js";

let gateway: MetricsGateway;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  gateway = await startMetricsGateway();
  prometheus = await startPrometheus(new URL(gateway.url).host);
  await untilScraped(prometheus, 'up{job="tritgate"}', 1);
}, 120_000);

afterAll(async () => {
  await prometheus?.close();
  await gateway?.close();
});

async function chat(tier: string, content: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.keys[tier]}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "nano", messages: [{ role: "user", content }], max_tokens: 16, ...extra }),
  });
  await res.text();
  return res;
}

/** One of everything the panels show. */
async function wave(): Promise<void> {
  const answers = [
    await chat("standard", "Tell me about ships."),
    await chat("standard", "Tell me about whales.", { stream: true }),
    await chat("free", "Once upon a time"),
    await chat("premium", "Call me Ishmael.", { stream: true }),
    await chat("tight", "A degraded, late answer."),
    await chat("cascade", "An unsure answer escalates."),
    await chat("cascade", "Streamed, it escalates too.", { stream: true }),
    await chat("standard", `The ternary variant fails ${FAIL_MARKER}`),
  ];
  for (const r of answers) expect(r.status).toBe(200);
  const completions = await fetch(`${gateway.url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.keys.standard}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "nano", prompt: "The sea", max_tokens: 16 }),
  });
  await completions.text();
  expect(completions.status).toBe(200);
  // the free tier may not use the fp32 variant: a routing rejection
  expect((await chat("free", "pinned", { model: "nano-fp32" })).status).toBe(403);
}

const DASHBOARD_DIR = join(import.meta.dirname, "json");
const dashboards = ["efficiency", "routing", "sla"].map((name) =>
  JSON.parse(readFileSync(join(DASHBOARD_DIR, `${name}.json`), "utf8")),
);

describe("dashboards against a real Prometheus", () => {
  it("every panel query answers with data after mixed traffic", async () => {
    // two waves with scrapes between, so every counter has risen between two samples
    await wave();
    await untilScraped(prometheus, "sum(tritgate_requests_total)", gateway.recorder.size);
    await wave();
    await untilScraped(prometheus, "sum(tritgate_requests_total)", gateway.recorder.size);

    // the traffic held each case the panels are about
    const rows = gateway.recorder.latest();
    expect(rows.some((e) => e.request.degraded)).toBe(true);
    expect(
      rows.some((e) => (e.decision?.fallbackChain.length ?? 0) > 1 && e.decision?.reason !== "cascade_start"),
    ).toBe(true);
    expect(rows.some((e) => e.decision?.reason === "cascade_start" && e.request.variant === "nano-fp32")).toBe(true);
    expect(rows.some((e) => e.request.stream)).toBe(true);

    const queries = dashboards.flatMap((d) => panelQueries(d));
    expect(queries.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (const q of queries) {
      const expr = substitutePromql(q.raw, "1m");
      const answer = await prometheus.query(expr);
      const where = `${q.dashboard} / ${q.panel} [${q.refId}]: ${expr}`;
      if (answer.status !== "success") failures.push(`${where} → error ${answer.error}`);
      else if (answer.data.result.length === 0) failures.push(`${where} → empty`);
      else if (!answer.data.result.some((s) => Number.isFinite(Number(s.value[1])))) {
        failures.push(`${where} → no finite value (${answer.data.result.map((s) => s.value[1]).join(", ")})`);
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);
});
