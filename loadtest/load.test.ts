/**
 * The runner against a loopback server that streams the way an OpenAI-compatible gateway does: the
 * headers and the role chunk at once, the first text only after a pause. The measured TTFT must
 * include that pause (it is timed to the first content delta, not to the headers or the role chunk),
 * and a threshold below it must be reported as breached.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runLoad } from "./load.js";
import type { ResolvedProfile, ResolvedTier } from "./resolve.js";
import { SCENARIOS } from "./scenarios.js";

const CONTENT_DELAY_MS = 250;
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

/** Answers every request after `holdMs`; a stream sends its role chunk first and its text `CONTENT_DELAY_MS` later. */
async function fakeGateway(holdMs = 0): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    let body = "";
    for await (const part of req) body += part;
    const { stream } = JSON.parse(body) as { stream: boolean };
    if (req.headers.authorization === "Bearer tg-refused") {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
      res.end(
        JSON.stringify({
          error: { message: "over", type: "rate_limit_error", param: null, code: "rejected_overload" },
        }),
      );
      return;
    }
    await sleep(holdMs);
    const headers = { "x-tritgate-degraded": "false", "x-tritgate-variant": "fake-variant" };
    if (!stream) {
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(JSON.stringify({ object: "chat.completion", choices: [{ index: 0, message: { content: "hi" } }] }));
      return;
    }
    res.writeHead(200, { ...headers, "content-type": "text/event-stream" });
    res.write(chunk({ role: "assistant", content: "" }));
    await sleep(CONTENT_DELAY_MS);
    res.write(chunk({ content: "Call" }));
    res.write(chunk({}, "stop"));
    res.end("data: [DONE]\n\n");
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

function profileOf(tier: Partial<ResolvedTier> & Pick<ResolvedTier, "thresholds">): ResolvedProfile {
  return {
    name: "smoke",
    description: "test",
    durationSeconds: 1,
    warmupRequestsPerTier: 0,
    seed: 1,
    prompts: SCENARIOS.prompts.filter((p) => p.endpoint === "chat"),
    tiers: [
      {
        tier: "premium",
        ratePerSecond: 4,
        maxTokens: 8,
        streamingShare: 1,
        preAllocatedVUs: 1,
        maxVUs: 8,
        maxErrorRate: 0,
        maxDegradedShare: 0,
        ...tier,
      },
    ],
  };
}
const thresholds = (ttftP95Ms: number) => ({
  ttftP95Ms,
  durationP95Ms: 60_000,
  maxErrorRate: 0,
  maxDegradedShare: 0,
  maxDropped: 0,
});

describe("runLoad", () => {
  it("times TTFT to the first content delta, after the role chunk, and reports a TTFT over the SLA", async () => {
    const gateway = await fakeGateway();
    const keyFor = () => "tg-test";
    const slow = await runLoad(profileOf({ thresholds: thresholds(100) }), { url: gateway.url, keyFor });
    const tier = slow.tiers[0]!;
    expect(tier.sent).toBe(4);
    expect(tier.answered).toBe(4);
    expect(tier.streamed).toBe(4);
    expect(tier.ttftMs.p50).toBeGreaterThanOrEqual(CONTENT_DELAY_MS);
    expect(tier.variants).toEqual({ "fake-variant": 4 });
    expect(slow.passed).toBe(false);
    expect(slow.breaches.map((b) => b.threshold)).toEqual(["ttft_p95"]);

    const lenient = await runLoad(profileOf({ thresholds: thresholds(60_000) }), { url: gateway.url, keyFor });
    expect(lenient.passed).toBe(true);
    expect(lenient.breaches).toEqual([]);
  });

  it("counts refusals as errors with their code, and whole answers without a TTFT", async () => {
    const gateway = await fakeGateway();
    const profile = profileOf({ streamingShare: 0, thresholds: thresholds(100) });
    const report = await runLoad(profile, { url: gateway.url, keyFor: () => "tg-refused" });
    const tier = report.tiers[0]!;
    expect(tier.errors).toBe(4);
    expect(tier.errorReasons).toEqual({ "429 rejected_overload": 4 });
    expect(report.breaches.map((b) => b.threshold)).toEqual(["answers", "error_rate"]);
  });

  it("drops an arrival, and says so, when maxVUs requests are in flight", async () => {
    const gateway = await fakeGateway(3000);
    const profile = profileOf({ maxVUs: 1, streamingShare: 0, thresholds: thresholds(60_000) });
    const report = await runLoad(profile, { url: gateway.url, keyFor: () => "tg-test" });
    const tier = report.tiers[0]!;
    // arrivals at 0, 250, 500 and 750 ms; the first holds the only slot for 3 s
    expect(tier.arrivals).toBe(4);
    expect(tier.dropped).toBeGreaterThanOrEqual(1);
    expect(tier.sent + tier.dropped).toBe(4);
    expect(gateway.requests()).toBe(tier.sent);
    expect(report.breaches.map((b) => b.threshold)).toContain("dropped");
  });

  it("stops before the run when a warm-up request fails (a wrong key is not a load result)", async () => {
    const gateway = await fakeGateway();
    const profile = { ...profileOf({ thresholds: thresholds(60_000) }), warmupRequestsPerTier: 1 };
    await expect(runLoad(profile, { url: gateway.url, keyFor: () => "tg-refused" })).rejects.toThrow(
      /warm-up request for tier premium failed: 429 rejected_overload/,
    );
    expect(gateway.requests()).toBe(1);
  });
});
