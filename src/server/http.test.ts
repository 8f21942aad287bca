/** HTTP details over loopback: request ids, body limit, health, and a fuzz of malformed requests. */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VariantWorker } from "../engines/pool/index.js";
import { served, startTestGateway, startTinyWorkers, type TestGateway, TINY_CONFIGS } from "./testkit.js";

let workers: Record<string, VariantWorker>;
let gw: TestGateway;

beforeAll(async () => {
  workers = await startTinyWorkers();
  gw = await startTestGateway(served(workers), { bodyLimitBytes: 16 * 1024 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(workers ?? {}).map((w) => (w as VariantWorker).close()));
});

const post = (
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
) =>
  fetch(`${gw.server.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${gw.keys.standard}`, "content-type": "application/json", ...headers },
    body,
    // a stream body has no declared length: the server sees a chunked request
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);

/** `text` as a one-chunk stream, so the request carries no content-length. */
function chunked(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(text));
      c.close();
    },
  });
}

function expectOpenAIError(json: unknown): void {
  expect(json).toMatchObject({
    error: { message: expect.any(String), type: expect.any(String) },
  });
  const error = (json as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
}

describe("http surface", () => {
  it("x-request-id is on every response; a valid incoming id is echoed, a bad one replaced", async () => {
    const live = await fetch(`${gw.server.url}/health/live`, { headers: { "x-request-id": "abc-123" } });
    expect(live.headers.get("x-request-id")).toBe("abc-123");
    expect(await live.json()).toEqual({ status: "ok" });
    const bad = await fetch(`${gw.server.url}/v1/models`, { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    const missing = await fetch(`${gw.server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBeTruthy();
    expectOpenAIError(await missing.json());
  });

  it("bodies past the limit are 413 in OpenAI's shape, declared or streamed", async () => {
    const big = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x".repeat(20_000) }] });
    const res = await post("/v1/chat/completions", big);
    expect(res.status).toBe(413);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expectOpenAIError(await res.json());
    const streamed = await post("/v1/chat/completions", chunked(big));
    expect(streamed.status).toBe(413);
  });

  it("bodies within the limit are read whether their length is declared or streamed; bad UTF-8 is a 400", async () => {
    const small = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
    const declared = await post("/v1/chat/completions", small);
    expect(declared.status).toBe(200);
    const streamed = await post("/v1/chat/completions", chunked(small));
    expect(streamed.status).toBe(200);
    const bad = await post("/v1/chat/completions", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/UTF-8/);
  });

  it("/health/ready lists the variants; 503 when none is ready", async () => {
    const ready = await fetch(`${gw.server.url}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; variants: { name: string; state: string }[] };
    expect(body.status).toBe("ready");
    expect(body.variants.map((v) => [v.name, v.state])).toEqual([
      ["tiny-b158", "ready"],
      ["tiny-fp32", "ready"],
    ]);
    const { startVariantWorker } = await import("../engines/pool/index.js");
    const broken = startVariantWorker({ name: "tiny-b158", path: "/nonexistent/model.gguf" });
    await broken.ready.catch(() => undefined);
    const down = await startTestGateway([{ config: TINY_CONFIGS[0]!, worker: broken }]);
    try {
      const res = await fetch(`${down.server.url}/health/ready`);
      expect(res.status).toBe(503);
      const json = (await res.json()) as { variants: { state: string; error: string }[] };
      expect(json.variants[0]).toMatchObject({ state: "failed", error: expect.stringMatching(/model\.gguf/) });
      const chat = await fetch(`${down.baseURL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${down.keys.standard}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x" }] }),
      });
      expect(chat.status).toBe(503);
      expect(chat.headers.get("x-should-retry")).toBe("true");
      expectOpenAIError(await chat.json());
    } finally {
      await down.close();
      await broken.close();
    }
  });

  it("fuzz: malformed bodies and headers always get a 4xx OpenAI error and the server stays up", async () => {
    const valid = { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 };
    const junk = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.array(fc.anything(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.anything(), { maxKeys: 3 }),
      fc.constantFrom(-1, 0, 3.5, 1e308, -1e308, "", "auto", [], {}, [null], "x".repeat(300)),
    );
    // a valid body with one field broken in a way the API must refuse
    const breaks: Record<string, fc.Arbitrary<unknown>> = {
      model: fc.oneof(
        fc.constant(undefined),
        fc.constant(""),
        fc.integer(),
        fc.constant(null),
        fc.string().map((s) => `no-such-${s}`),
      ),
      messages: fc.oneof(
        fc.constant(undefined),
        fc.constant([]),
        fc.string(),
        fc.array(
          fc.record({
            role: fc.string().filter((r) => !["system", "user", "assistant", "developer", "tool"].includes(r)),
            content: fc.string(),
          }),
          { minLength: 1, maxLength: 2 },
        ),
        fc.array(
          fc.record({ role: fc.constant("user"), content: fc.oneof(fc.integer(), fc.constant(null), fc.constant([])) }),
          { minLength: 1, maxLength: 2 },
        ),
      ),
      temperature: fc.oneof(
        fc.double({ min: 2.0001, max: 1e9, noNaN: true }),
        fc.double({ max: -0.0001, min: -1e9, noNaN: true }),
        fc.string(),
      ),
      top_p: fc.oneof(fc.double({ min: 1.0001, max: 1e6, noNaN: true }), fc.constant(-1), fc.boolean()),
      n: fc.oneof(fc.integer({ min: 9 }), fc.integer({ max: 0 }), fc.constant(1.5), fc.string()),
      max_tokens: fc.oneof(fc.integer({ max: 0 }), fc.constant(2.5), fc.integer({ min: 129 }), fc.string()),
      max_completion_tokens: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 129 }), fc.boolean()),
      stop: fc.oneof(
        fc.integer(),
        fc.array(fc.string({ minLength: 1 }), { minLength: 5, maxLength: 8 }),
        fc.constant([""]),
        fc.constant({}),
      ),
      seed: fc.oneof(fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }), fc.string()),
      logprobs: fc.oneof(fc.integer(), fc.string()),
      top_logprobs: fc.oneof(fc.integer({ min: 21 }), fc.integer({ max: -1 })),
      stream: fc.oneof(fc.integer(), fc.string()),
      stream_options: fc.oneof(fc.integer(), fc.string(), fc.constant({ include_usage: "yes" })),
      frequency_penalty: fc.oneof(fc.double({ min: 2.0001, max: 1e9, noNaN: true }), fc.string()),
      presence_penalty: fc.oneof(fc.double({ max: -2.0001, min: -1e9, noNaN: true }), fc.constant([])),
      user: fc.oneof(fc.integer(), fc.constant({})),
      logit_bias: fc.oneof(fc.constant({ abc: 1 }), fc.constant({ "5": 1000 }), fc.string()),
    };
    const brokenBody = fc
      .constantFrom(...Object.keys(breaks))
      .chain((field) => breaks[field]!.map((value) => JSON.stringify({ ...valid, [field]: value })));
    const body = fc.oneof(
      brokenBody,
      junk.map((j) => JSON.stringify(j) ?? ""),
      fc.string(),
      fc.constantFrom("{", "[1,2", "null", '{"model":', "\u0000", "{}"),
    );
    const headers = fc.oneof(
      fc.constant<Record<string, string>>({}),
      fc.constantFrom<Record<string, string>>(
        { authorization: "" },
        { authorization: "Bearer" },
        { authorization: "Basic abc" },
        { authorization: "Bearer tg-not-a-key" },
        { "x-tritgate-quality": "extreme" },
        { "x-tritgate-sla-ms": "-5" },
        { "x-tritgate-sla-ms": "soon" },
        { "content-type": "text/plain" },
      ),
    );
    const path = fc.constantFrom("/v1/chat/completions", "/v1/completions");
    const runs = 2000;
    const rssBefore = process.memoryUsage().rss;
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(path, body, headers, async (p, b, h) => {
        // a completions body is a chat body with the wrong fields: refuse unless it is a valid completion
        const res = await post(p, b, h);
        sent++;
        const text = await res.text();
        expect(res.status, `${p} ${b} ${JSON.stringify(h)} → ${text}`).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get("x-request-id")).toBeTruthy();
        expectOpenAIError(JSON.parse(text));
      }),
      { numRuns: runs },
    );
    expect(sent).toBe(runs);
    const live = await fetch(`${gw.server.url}/health/live`);
    expect(live.status).toBe(200);
    // thousands of refused requests must not accumulate state (the decision log and limiter are bounded)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });
});
