/**
 * The x-tritgate-*-ms headers, on a gateway called in-process over scripted runtimes: the engine's
 * timings are the runtime's own figures, so the headers can be asserted exactly rather than against
 * a clock.
 */
import { describe, expect, it } from "vitest";
import type { PoolResult } from "../engines/pool/index.js";
import { createGateway } from "./app.js";
import { CountingLimiter, MapDirectory, TEST_TIERS, TINY_CONFIGS } from "./testkit.js";
import type { VariantRuntime } from "./types.js";

/** A ready runtime that answers every request at once with `result` (and streams its one token). */
function scripted(name: string, result: Omit<PoolResult, "tokens">): VariantRuntime & { calls: number } {
  const token = { id: 97, text: result.text, logprob: -0.5, top: [] };
  const runtime = {
    name,
    state: "ready" as const,
    error: undefined,
    info: { kind: "bitnet" as const, contextLength: 256, vocabSize: 270, loadMs: 0 },
    slots: 8,
    running: 0,
    waiting: 0,
    calls: 0,
    generate: async (_request: unknown, onToken?: (t: typeof token) => void) => {
      runtime.calls++;
      onToken?.(token);
      return { ...result, tokens: [token] };
    },
  };
  return runtime;
}

function gateway() {
  const directory = new MapDirectory(Object.values(TEST_TIERS));
  const key = directory.addTenant("acme", "standard");
  const runtimes = TINY_CONFIGS.map((config) =>
    scripted(config.name, {
      text: "a",
      finishReason: "length",
      promptTokens: 9,
      completionTokens: 1,
      prefillMs: 4.25,
      decodeMs: 8.125,
      queueMs: 0,
    }),
  );
  const { app } = createGateway({
    directory,
    limiter: new CountingLimiter(),
    variants: TINY_CONFIGS.map((config, i) => ({ config, worker: runtimes[i]! })),
    rateAlpha: 1e-9,
  });
  const chat = (body: Record<string, unknown>) =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1, ...body }),
    });
  return { chat, runtimes };
}

describe("x-tritgate-engine-ms, -worker-ms and -queue-ms", () => {
  it("engine-ms is the runtime's prefill + decode, queue-ms its wait, worker-ms the handle's own share", async () => {
    const { chat } = gateway();
    const res = await chat({});
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-engine-ms")).toBe("12.375");
    expect(res.headers.get("x-tritgate-queue-ms")).toBe("0.000");
    // measured around the call on the main thread: a figure, never negative
    expect(res.headers.get("x-tritgate-worker-ms")).toMatch(/^\d+\.\d{3}$/);
  });

  it("are summed over the choices of a request", async () => {
    const { chat, runtimes } = gateway();
    const res = await chat({ n: 3 });
    expect(res.status).toBe(200);
    expect(runtimes.reduce((s, r) => s + r.calls, 0)).toBe(3);
    expect(res.headers.get("x-tritgate-engine-ms")).toBe("37.125");
  });
});
