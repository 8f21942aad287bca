/**
 * Limits that say the truth: a request that can never fit is a 400 with a code saying which limit,
 * 429 only where waiting helps, `insufficient_quota` only for a spent budget, and a context that
 * cannot hold the request is `context_length_exceeded` (the official openai client where one is involved).
 */
import OpenAI, { BadRequestError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tinyFamily } from "../../test/helpers/tiny-family.js";
import { startVariantWorker, type VariantWorker } from "../engines/pool/index.js";
import type { LimitDecision, RateLimiter, TierConfig } from "../tenants/index.js";
import { evaluate, type Usage } from "../tenants/limits/index.js";
import { createGateway } from "./app.js";
import {
  MapDirectory,
  type NanoGateway,
  startNanoGateway,
  startTestGateway,
  TINY_CONFIGS,
  tierConfig,
} from "./testkit.js";

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe("tier limits on the nano gateway (embedded tiers, in-memory limiter)", () => {
  let nano: NanoGateway;
  const client = (tier: string) => new OpenAI({ apiKey: nano.keys[tier]!, baseURL: nano.baseURL, maxRetries: 0 });

  beforeAll(async () => {
    nano = await startNanoGateway();
  });

  afterAll(async () => {
    await nano?.close();
  });

  it("a max_tokens no request of the tier may have is a 400, never a 429 or insufficient_quota", async () => {
    for (const [tier, maxTokens] of [
      ["free", 1_000_000],
      ["standard", 100_000_000],
    ] as const) {
      const refused = await refusal(
        client(tier).chat.completions.create({
          model: "nano",
          messages: [{ role: "user", content: "hi" }],
          max_tokens: maxTokens,
        }),
      );
      expect(refused).toBeInstanceOf(BadRequestError);
      expect(refused).toMatchObject({ status: 400, param: "max_tokens", code: "invalid_value" });
      expect((refused as BadRequestError).headers?.get("retry-after")).toBeNull();
    }
  });

  it("a prompt larger than the tier's tokens per minute is a 400 request_exceeds_tokens_per_minute", async () => {
    const refused = await refusal(
      client("free").chat.completions.create({
        model: "nano",
        messages: [{ role: "user", content: "the ".repeat(25_000) }],
        max_tokens: 1,
      }),
    );
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: "request_exceeds_tokens_per_minute" });
    expect((refused as BadRequestError).headers?.get("retry-after")).toBeNull();
  });

  it("max_tokens past the 256-token context is a 400 context_length_exceeded on the nano models", async () => {
    const refused = await refusal(
      client("free").chat.completions.create({
        model: "nano",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 300,
      }),
    );
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: "context_length_exceeded", param: "max_tokens" });
    expect((refused as Error).message).toMatch(/maximum context length is 256 tokens/);
  });
});

/** A limiter whose tenant has already used `usage` (the real arithmetic, a fixed past). */
class UsedLimiter implements RateLimiter {
  constructor(private readonly usage: Usage) {}
  async admit(_tenant: string, tier: TierConfig, estimate: number, now: number): Promise<LimitDecision> {
    return evaluate(this.usage, tier, estimate, now);
  }
  async settle(): Promise<void> {}
  async close(): Promise<void> {}
}

describe("refusals by the limiter", () => {
  const tier = tierConfig({ name: "budget", monthlyTokenBudget: 1000, tokensPerMinute: 100_000, maxOutputTokens: 500 });

  async function ask(usage: Usage, maxTokens: number, n = 1) {
    const directory = new MapDirectory([tier]);
    const key = directory.addTenant("t", "budget");
    const app = createGateway({ directory, limiter: new UsedLimiter(usage), variants: [] }).app;
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens, n }),
    });
    const body = (await res.json()) as { error: { code: string; message: string; type: string } };
    return { status: res.status, headers: res.headers, error: body.error };
  }

  it("more than the whole monthly budget: 400 request_exceeds_monthly_budget", async () => {
    const r = await ask({ requests: 0, tokens: 0, monthTokens: 0 }, 500, 3);
    expect(r).toMatchObject({
      status: 400,
      error: { code: "request_exceeds_monthly_budget", type: "invalid_request_error" },
    });
    expect(r.headers.get("retry-after")).toBeNull();
  });

  it("more than what is left of an unspent budget: 400 request_exceeds_remaining_budget", async () => {
    const r = await ask({ requests: 0, tokens: 0, monthTokens: 900 }, 200);
    expect(r).toMatchObject({ status: 400, error: { code: "request_exceeds_remaining_budget" } });
    expect(r.error.message).toMatch(/only 100 remain/);
  });

  it("a spent budget: 429 insufficient_quota, told not to retry", async () => {
    const r = await ask({ requests: 0, tokens: 0, monthTokens: 1000 }, 1);
    expect(r).toMatchObject({ status: 429, error: { code: "insufficient_quota" } });
    expect(r.headers.get("x-should-retry")).toBe("false");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a minute's tokens used up: 429 rate_limit_exceeded with retry-after (waiting helps)", async () => {
    const r = await ask({ requests: 0, tokens: 99_999, monthTokens: 0 }, 10);
    expect(r).toMatchObject({ status: 429, error: { code: "rate_limit_exceeded", type: "tokens" } });
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("variants with different contexts", () => {
  let short: VariantWorker;
  let long: VariantWorker;

  beforeAll(async () => {
    const family = await tinyFamily();
    short = startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1, contextLength: 64 });
    long = startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1 });
    await Promise.all([short.ready, long.ready]);
  });

  afterAll(async () => {
    await Promise.all([short?.close(), long?.close()]);
  });

  it("a request only the larger context can hold goes to that variant; pinned to the smaller it is a 400", async () => {
    const gw = await startTestGateway([
      { config: TINY_CONFIGS[0]!, worker: short },
      { config: TINY_CONFIGS[1]!, worker: long },
    ]);
    try {
      const client = new OpenAI({ apiKey: gw.keys.standard, baseURL: gw.baseURL, maxRetries: 0 });
      const messages = [{ role: "user" as const, content: "word ".repeat(20) }];
      const res = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 4 }).withResponse();
      expect(res.response.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
      const decision = gw.memory.latest(1)[0]!.decision!;
      expect(decision.chosen).toBe("tiny-b158"); // the router's pick, which could not hold it
      expect(decision.fallbackChain).toEqual(["tiny-b158", "tiny-fp32"]);
      const pinned = await refusal(client.chat.completions.create({ model: "tiny-b158", messages, max_tokens: 4 }));
      expect(pinned).toMatchObject({ status: 400, code: "context_length_exceeded" });
      for (const name of ["tiny-b158", "tiny-fp32"])
        expect(gw.gateway.states.breaker(name, Date.now())?.state).toBe("closed");
    } finally {
      await gw.close();
    }
  });
});
