/**
 * The metrics observer hangs off the end-of-request seam: every completion request the gateway
 * answers (JSON, streamed, failed) is counted once in the gateway's own /metrics, by tier, variant
 * and status, and `metrics: false` leaves the request counters empty.
 */
import { describe, expect, it } from "vitest";
import { answers, chat, drain, failsAtOnce, settle, setup } from "./testkit.js";

/** The samples of one metric in a Prometheus text exposition, as "labels value" lines. */
async function samples(app: { request(path: string): Response | Promise<Response> }, name: string) {
  const res = await app.request("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return text.split("\n").filter((line) => line.startsWith(`${name}{`));
}

describe("the metrics observer", () => {
  it("counts each answered request once, JSON and streamed, with bounded labels", async () => {
    const { app, post } = setup(answers("hi"));
    expect((await post(chat())).status).toBe(200);
    expect((await post(chat())).status).toBe(200);
    const streamed = await post(chat({ stream: true }));
    await drain((streamed.body as ReadableStream<Uint8Array>).getReader());
    await settle();
    const lines = await samples(app, "tritgate_requests_total");
    const total = lines.reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
    expect(total).toBe(3);
    for (const line of lines) {
      expect(line).toMatch(/tier="standard"/);
      expect(line).toMatch(/status="200"/);
      expect(line).not.toMatch(/acme|tenant|key|hello/);
    }
  });

  it("counts an engine failure under its status", async () => {
    const { app, post } = setup(failsAtOnce);
    const res = await post(chat());
    expect(res.status).toBeGreaterThanOrEqual(500);
    await settle();
    const lines = await samples(app, "tritgate_requests_total");
    expect(lines.some((line) => line.includes(`status="${res.status}"`))).toBe(true);
  });

  it("is off with metrics: false", async () => {
    const { app, post } = setup(answers("hi"), "standard", { metrics: false });
    expect((await post(chat())).status).toBe(200);
    await settle();
    expect(await samples(app, "tritgate_requests_total")).toEqual([]);
  });
});
