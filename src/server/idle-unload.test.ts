/**
 * A variant unloaded for idleness, seen through the gateway on loopback with the official client: it
 * stays servable on /health/ready and shows on /metrics; requests for it (one during its reload
 * included) wait for the load and succeed; the router counts the load time, and a tier that refuses
 * a cold variant for it gets the variant warmed for its retry.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tinyFamily } from "../../test/helpers/tiny-family.js";
import { startVariantWorker, type VariantWorker } from "../engines/pool/index.js";
import { parseExposition } from "../metrics/testkit.js";
import { createMemoryRateLimiter } from "../tenants/index.js";
import { createGateway, type GatewayApp } from "./app.js";
import { promptTokenEstimate } from "./gateway/estimate.js";
import type { MemoryRecorder } from "./recorder.js";
import { type RunningServer, startServer } from "./serve.js";
import { MapDirectory, TINY_CONFIGS, tierConfig } from "./testkit.js";

const IDLE_MS = 30;
const messages = [{ role: "user" as const, content: "Hello there" }];

describe("idle-unloaded variants through the gateway", () => {
  let b158: VariantWorker;
  let fp32: VariantWorker;
  let parts: GatewayApp;
  let server: RunningServer;
  let keys: { open: string; strict: string };
  let strictTtftSlaMs: number;

  beforeAll(async () => {
    const family = await tinyFamily();
    b158 = startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1, idleUnloadMs: IDLE_MS });
    fp32 = startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1 });
    await Promise.all([b158.ready, fp32.ready]);
    // the warm ternary variant's predicted TTFT is its prefill at the card rate (idle: no queue)
    const warmTtftMs = (1000 * promptTokenEstimate(messages)) / TINY_CONFIGS[0]!.card.prefillTokensPerSecond;
    strictTtftSlaMs = warmTtftMs + 1;
    const directory = new MapDirectory([
      tierConfig({ name: "open", allowedVariants: ["tiny-b158"], onOverload: "reject" }),
      // a TTFT bound the warm ternary variant meets and any load (many ms) breaks
      tierConfig({ name: "strict", allowedVariants: ["tiny-b158"], onOverload: "reject", ttftSlaMs: strictTtftSlaMs }),
    ]);
    keys = { open: directory.addTenant("acme", "open"), strict: directory.addTenant("globex", "strict") };
    const variants = TINY_CONFIGS.map((config) => ({ config, worker: config.name === "tiny-b158" ? b158 : fp32 }));
    parts = createGateway({ directory, limiter: createMemoryRateLimiter(), variants, rateAlpha: 1e-9 });
    server = await startServer(parts.app, { host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([b158?.close(), fp32?.close()]);
  });

  const unloaded = () => vi.waitFor(() => expect(b158.state).toBe("unloaded"), { timeout: 20_000, interval: 5 });
  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const lastDecision = () => {
    const decision = (parts.recorder as MemoryRecorder).latest(1)[0]?.decision;
    if (!decision) throw new Error("no decision recorded");
    return decision;
  };

  it("is ready and unloaded on /health/ready and /metrics; requests wait for the reload and all succeed", async () => {
    await unloaded();
    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { variants: { name: string; state: string }[] };
    expect(body.variants.find((v) => v.name === "tiny-b158")?.state).toBe("unloaded");
    const metrics = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    const gauge = (name: string) => metrics.find((s) => s.name === name && s.labels.variant === "tiny-b158")?.value;
    expect(gauge("tritgate_variant_unloaded")).toBe(1);

    const api = client(keys.open);
    const first = api.chat.completions.create({ model: "auto", messages, max_tokens: 4, temperature: 0 });
    // a second request, streamed, while the model loads: it waits in the queue rather than failing
    await vi.waitFor(() => expect(b158.state).toBe("reloading"), { timeout: 20_000, interval: 2 });
    const second = api.chat.completions.create({
      model: "tiny-b158",
      messages,
      max_tokens: 4,
      temperature: 0,
      stream: true,
    });
    const answer = await first;
    let streamed = "";
    for await (const chunk of await second) streamed += chunk.choices[0]?.delta.content ?? "";
    expect(answer.choices[0]?.message.content).toBe(streamed);
    expect(answer.model).toBe("tiny-b158");
    expect(b158.unloads).toBe(1);
    expect(b158.restarts).toBe(0);
  });

  it("the router is handed the load time of a cold variant and refuses it where the load breaks the SLA", async () => {
    await unloaded();
    const loadMs = b158.pendingLoadMs;
    expect(loadMs).toBeGreaterThanOrEqual(b158.info?.loadMs ?? Number.POSITIVE_INFINITY);
    expect(loadMs).toBeGreaterThan(1);
    // the generous tier routes to it, predicting the load (the last one's time) ahead of the queue
    await client(keys.open).chat.completions.create({ model: "auto", messages, max_tokens: 2 });
    const routed = lastDecision();
    const cold = routed.candidates.find((c) => c.variant === "tiny-b158")!;
    expect(cold.prediction.loadMs).toBe(loadMs);
    expect(cold.prediction.ttftMs).toBeGreaterThanOrEqual(loadMs);

    // without the load the strict tier's TTFT bound would hold; with it, it does not: a 429 with
    // retry-after, and the variant is loaded for the retry
    expect(cold.prediction.ttftMs - cold.prediction.loadMs).toBeLessThan(strictTtftSlaMs);
    await unloaded();
    const refused = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.strict}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "auto", messages, max_tokens: 2 }),
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBeTypeOf("string");
    expect(b158.state).not.toBe("unloaded");
    await vi.waitFor(() => expect(b158.state).toBe("ready"), { timeout: 20_000, interval: 2 });
  });
});
