/**
 * A variant's KV budget through the HTTP layer (real workers on the nano model, loopback HTTP, the
 * official openai client): a request whose prompt plus max_tokens can never fit the budget is a 400
 * `context_length_exceeded`, never a 429 or 503; one that waited its bound while the budget was
 * spent is refused like a full queue: a 429 `rate_limit_exceeded` with `retry-after`.
 */
import OpenAI, { BadRequestError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NanoGateway, startNanoGateway } from "./testkit.js";

const BUDGET = 200;

describe("the KV budget over HTTP", () => {
  let nano: NanoGateway;

  beforeAll(async () => {
    nano = await startNanoGateway({}, undefined, (variant) =>
      variant === "nano-b158" ? { kvTokenBudget: BUDGET, maxKvWaitMs: 20 } : {},
    );
  });
  afterAll(async () => {
    await nano?.close();
  });

  const chat = (maxTokens: number, stream = false) =>
    fetch(`${nano.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${nano.keys.free}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "nano",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: maxTokens,
        temperature: 0,
        stream,
      }),
    });

  it("a prompt plus max_tokens beyond the budget (within the context) is a 400 context_length_exceeded", async () => {
    const client = new OpenAI({ apiKey: nano.keys.free!, baseURL: nano.baseURL, maxRetries: 0 });
    const refused = await client.chat.completions
      .create({ model: "nano", messages: [{ role: "user", content: "hi" }], max_tokens: 230 })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: "context_length_exceeded", param: "max_tokens" });
    expect((refused as BadRequestError).headers?.get("retry-after")).toBeNull();
    // within the budget it runs
    const fits = await client.chat.completions.create({
      model: "nano",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
    });
    expect(fits.usage?.completion_tokens).toBe(4);
  });

  it("a request that waited its bound while the budget was spent is a 429 with retry-after", async () => {
    // greedy "hi" runs past 180 tokens on nano without an end of sequence: it holds the budget meanwhile
    const holding = await chat(180, true);
    expect(holding.status).toBe(200);
    const reader = holding.body!.getReader();
    await reader.read();
    const refused = await chat(20);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("x-request-id")).toBeTruthy();
    const body = (await refused.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error.code).toBe("rate_limit_exceeded");
    expect(body.error.message).toMatch(/KV-cache budget \(200 tokens\)/);
    await reader.cancel();
  });
});
