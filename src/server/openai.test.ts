/** The official `openai` client against the gateway over loopback HTTP, with real engines in workers. */
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, RateLimitError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VariantWorker } from "../engines/pool/index.js";
import { served, startTestGateway, startTinyWorkers, type TestGateway } from "./testkit.js";

let workers: Record<string, VariantWorker>;
let gw: TestGateway;
let client: OpenAI;

const client_ = (key: string, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
  new OpenAI({ apiKey: key, baseURL: gw.baseURL, maxRetries: 0, ...extra });

beforeAll(async () => {
  workers = await startTinyWorkers();
  gw = await startTestGateway(served(workers));
  client = client_(gw.keys.standard);
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(workers ?? {}).map((w) => (w as VariantWorker).close()));
});

describe("chat completions through the openai client", () => {
  it("answers a non-streaming request in OpenAI's shape", async () => {
    const res = await client.chat.completions
      .create({
        model: "tiny",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 6,
        temperature: 0,
        seed: 1,
      })
      .withResponse();
    const completion = res.data;
    expect(completion.object).toBe("chat.completion");
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices).toHaveLength(1);
    const choice = completion.choices[0]!;
    expect(choice.message.role).toBe("assistant");
    expect(typeof choice.message.content).toBe("string");
    expect(["stop", "length"]).toContain(choice.finish_reason);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(6);
    expect(res.response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.response.headers.get("x-tritgate-variant")).toBe(completion.model);
    expect(res.response.headers.get("x-tritgate-decision")).toMatch(/^dec_/);
    expect(res.response.headers.get("x-tritgate-degraded")).toBe("false");
    expect(res.response.headers.get("x-ratelimit-limit-requests")).toBe("10000");
    const settled = gw.limiter.settled.at(-1);
    expect(settled?.actual).toBe(completion.usage?.total_tokens);
  });

  it("is reproducible with a seed, honours n, stop and penalties, and reports logprobs", async () => {
    const params = {
      model: "tiny-b158",
      messages: [{ role: "user" as const, content: "count" }],
      max_completion_tokens: 8,
      seed: 42,
      temperature: 0.9,
      top_p: 0.95,
      frequency_penalty: 0.5,
      presence_penalty: 0.1,
      n: 2,
      logprobs: true,
      top_logprobs: 3,
      user: "u-1",
    };
    const a = await client.chat.completions.create(params);
    const b = await client.chat.completions.create(params);
    expect(a.choices.map((c) => c.message.content)).toEqual(b.choices.map((c) => c.message.content));
    expect(a.choices.map((c) => c.index)).toEqual([0, 1]);
    const lp = a.choices[0]!.logprobs!.content!;
    expect(lp.length).toBeGreaterThan(0);
    expect(lp[0]).toMatchObject({ token: expect.any(String), logprob: expect.any(Number) });
    expect(lp[0]!.bytes).toBeInstanceOf(Array);
    expect(lp[0]!.top_logprobs).toHaveLength(3);
    expect(lp[0]!.logprob).toBeLessThanOrEqual(0);

    const stopped = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 20,
      temperature: 0,
      stop: ["a", "e", "o", " "],
    });
    const text = stopped.choices[0]!.message.content!;
    expect(text).not.toMatch(/[aeo ]/);
  });

  it("streams chunks: role first, content deltas, finish_reason, a usage chunk, [DONE]", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "stream please" }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
    const finish = chunks.at(-2)!;
    expect(["stop", "length"]).toContain(finish.choices[0]!.finish_reason);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    const whole = await client.chat.completions.create({
      model: chunks[0]!.model,
      messages: [{ role: "user", content: "stream please" }],
      max_tokens: 8,
      temperature: 0,
    });
    expect(text).toBe(whole.choices[0]!.message.content);
  });

  it("stream() helper + finalChatCompletion()", async () => {
    const runner = client.chat.completions.stream({
      model: "tiny",
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 5,
      temperature: 0,
    });
    let deltas = "";
    runner.on("content", (delta) => {
      deltas += delta;
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(deltas);
    expect(final.choices[0]!.message.role).toBe("assistant");
  });

  it("legacy completions, whole and streamed", async () => {
    const whole = await client.completions.create({
      model: "tiny",
      prompt: "Once",
      max_tokens: 5,
      temperature: 0,
      logprobs: 2,
    });
    expect(whole.object).toBe("text_completion");
    expect(whole.choices[0]!.logprobs?.tokens?.length).toBeGreaterThan(0);
    const stream = await client.completions.create({
      model: whole.model,
      prompt: "Once",
      max_tokens: 5,
      temperature: 0,
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(whole.choices[0]!.text);
  });

  it("lists models and retrieves one; unknown ids are NotFoundError", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["auto", "tiny", "tiny-b158", "tiny-fp32"]);
    const free: string[] = [];
    for await (const m of client_(gw.keys.free).models.list()) free.push(m.id);
    expect(free).toEqual(["auto", "tiny", "tiny-b158"]);
    expect((await client.models.retrieve("tiny-fp32")).object).toBe("model");
    await expect(client.models.retrieve("gpt-4o")).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({ status: 404, code: "model_not_found", param: "model" });
  });

  it("typed errors: AuthenticationError, BadRequestError, RateLimitError, 403", async () => {
    await expect(client_("tg-wrong").models.list()).rejects.toBeInstanceOf(AuthenticationError);
    const bad = await client.chat.completions
      .create({ model: "tiny", messages: [{ role: "user", content: "x" }], temperature: 7 })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect(bad).toMatchObject({ status: 400, type: "invalid_request_error", param: "temperature" });
    await expect(
      client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "x" }],
        max_tokens: 100_000,
      }),
    ).rejects.toMatchObject({ status: 400, param: "max_tokens" });

    const limited = client_(gw.keys.limited);
    const ask = () =>
      limited.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x" }], max_tokens: 1 });
    await ask();
    await ask();
    const refused = await ask().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    const headers = (refused as RateLimitError).headers;
    expect(Number(headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(headers?.get("x-ratelimit-remaining-requests")).toBe("0");
    expect((refused as RateLimitError).code).toBe("rate_limit_exceeded");

    await expect(
      client_(gw.keys.free).chat.completions.create({ model: "tiny-fp32", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it("a prompt past the model's context is a 400, not a failed variant", async () => {
    await expect(
      client.chat.completions.create({
        model: "tiny-b158",
        messages: [{ role: "user", content: "x".repeat(600) }],
        max_tokens: 2,
      }),
    ).rejects.toMatchObject({ status: 400, code: "context_length_exceeded" });
    expect(gw.gateway.states.breaker("tiny-b158", Date.now())).toMatchObject({
      state: "closed",
      consecutiveFailures: 0,
    });
  });
});

describe("parameters through the openai client", () => {
  const base = { model: "tiny", messages: [{ role: "user" as const, content: "x" }], max_tokens: 1 };
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e,
    );

  it("an unknown parameter is a 400 naming it, on both endpoints", async () => {
    const chat = await refusal(client.chat.completions.create({ ...base, temprature: 0.5 } as never));
    expect(chat).toBeInstanceOf(BadRequestError);
    expect(chat).toMatchObject({ status: 400, param: "temprature", code: "unknown_parameter" });
    expect((chat as Error).message).toMatch(/Unrecognized request argument supplied: temprature/);
    const legacy = await refusal(
      client.completions.create({ model: "tiny", prompt: "x", max_tokens: 1, top_k: 5 } as never),
    );
    expect(legacy).toMatchObject({ status: 400, param: "top_k", code: "unknown_parameter" });
  });

  it("stream_options without stream is a 400", async () => {
    const refused = await refusal(client.chat.completions.create({ ...base, stream_options: { include_usage: true } }));
    expect(refused).toMatchObject({ status: 400, param: "stream_options" });
    const legacy = await refusal(
      client.completions.create({ model: "tiny", prompt: "x", max_tokens: 1, stream_options: { include_usage: true } }),
    );
    expect(legacy).toMatchObject({ status: 400, param: "stream_options" });
  });

  it("fields OpenAI accepts that change nothing here are accepted; features this server lacks are refused by name", async () => {
    const ok = await client.chat.completions.create({
      ...base,
      user: "u-1",
      safety_identifier: "s-1",
      metadata: { team: "search" },
      store: false,
      service_tier: "auto",
      prompt_cache_key: "k",
      modalities: ["text"],
    });
    expect(ok.choices).toHaveLength(1);
    for (const [param, value] of [
      ["audio", { voice: "alloy", format: "mp3" }],
      ["reasoning_effort", "high"],
      ["prediction", { type: "content", content: "x" }],
      ["web_search_options", {}],
      ["functions", [{ name: "f" }]],
    ] as const) {
      const refused = await refusal(client.chat.completions.create({ ...base, [param]: value } as never));
      expect(refused, param).toMatchObject({ status: 400, param, code: "unsupported_parameter" });
    }
    const flex = await refusal(client.chat.completions.create({ ...base, service_tier: "flex" }));
    expect(flex).toMatchObject({ status: 400, param: "service_tier" });
    const image = await refusal(
      client.chat.completions.create({
        ...base,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }],
      }),
    );
    expect(image).toMatchObject({ status: 400, param: "messages[0].content[0].type", code: "unsupported_parameter" });
  });

  it("max_tokens past what the context leaves is a 400 context_length_exceeded, not a cut answer", async () => {
    const refused = await refusal(
      client.chat.completions.create({
        model: "tiny-b158",
        messages: [{ role: "user", content: "word ".repeat(30) }],
        max_tokens: 128,
      }),
    );
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: "context_length_exceeded", param: "max_tokens" });
    // without max_tokens the same prompt is answered (the output is bounded by what the context leaves)
    const answered = await client.chat.completions.create({
      model: "tiny-b158",
      messages: [{ role: "user", content: "word ".repeat(30) }],
    });
    expect(answered.choices).toHaveLength(1);
    expect(gw.gateway.states.breaker("tiny-b158", Date.now())?.state).toBe("closed");
  });
});
