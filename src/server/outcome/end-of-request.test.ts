import { describe, expect, it, vi } from "vitest";
import { createGateway } from "../app.js";
import { CountingLimiter, MapDirectory, memoryLog, TEST_TIERS, TINY_CONFIGS } from "../testkit.js";
import {
  answers,
  chat,
  drain,
  failsAfterOneToken,
  failsAtOnce,
  hangsAfterOneToken,
  heldAfterOneToken,
  scripted,
  settle,
  setup,
} from "./testkit.js";

/**
 * The end-of-request seam in-process (app.request, engines scripted on the main thread): every
 * request's observers fire exactly once, also for streams that end, are cancelled or fail, and the
 * limiter is settled exactly once for every request it admitted.
 */
describe("end of request: observers fire once per request", () => {
  it("a JSON answer: once, with its status, variant, tokens and cost; the limiter settles the tokens used", async () => {
    const t = setup(answers("hey"));
    const res = await t.post(chat());
    expect(res.status).toBe(200);
    await settle();
    expect(t.seen).toHaveLength(1);
    const o = t.seen[0]!;
    expect(o).toMatchObject({ status: 200, error: null, tokensIn: 7, tokensOut: 3, engineMs: 5, tried: ["tiny-b158"] });
    expect(o.variant?.name).toBe(res.headers.get("x-tritgate-variant"));
    expect(o.serving?.cpuSeconds).toBeCloseTo(0.005);
    expect(o.requestId).toBe(res.headers.get("x-request-id"));
    expect(t.limiter.settled).toEqual([{ tenant: "acme", estimated: o.reservedTokens, actual: 10 }]);
    expect(t.recorder.size).toBe(1);
  });

  it("an engine failure: once, with the 503 and its code; the reservation is settled with nothing used", async () => {
    const t = setup(failsAtOnce);
    const res = await t.post(chat());
    expect(res.status).toBe(503);
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 503, error: "engine_failure", variant: null, tokensOut: 0 });
    expect(t.limiter.settled).toEqual([{ tenant: "acme", estimated: t.seen[0]!.reservedTokens, actual: 0 }]);
    expect(t.recorder.size).toBe(1);
  });

  it("a 400 from validation: once, not recorded, and the limiter (which never admitted it) is not settled", async () => {
    const t = setup(answers("hey"));
    const res = await t.post(chat({ temperature: 7 }));
    expect(res.status).toBe(400);
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 400, error: "invalid_value", reservedTokens: null, routed: null });
    expect(t.seen[0]!.principal?.tenant.id).toBe("acme");
    expect(t.limiter.settled).toEqual([]);
    expect(t.recorder.size).toBe(0);
  });

  it("a 400 after the limiter admitted it (a bad routing hint): once, settled once with nothing used", async () => {
    const t = setup(answers("hey"));
    const res = await t.post(chat(), { headers: { "x-tritgate-quality": "very" } });
    expect(res.status).toBe(400);
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 400, error: "invalid_header" });
    expect(t.limiter.settled).toEqual([{ tenant: "acme", estimated: t.seen[0]!.reservedTokens, actual: 0 }]);
    expect(t.recorder.size).toBe(0);
  });

  it("a 401: once, without a principal", async () => {
    const t = setup(answers("hey"));
    const res = await t.post(chat(), { headers: { authorization: "Bearer nope" } });
    expect(res.status).toBe(401);
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 401, principal: null, error: "invalid_api_key" });
    expect(t.limiter.settled).toEqual([]);
  });

  it("a completed stream: once, after its last event, not when the response started", async () => {
    const held = heldAfterOneToken();
    const t = setup(held.script);
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await settle();
    // the response has started, the stream has not ended: no outcome yet
    expect(t.seen).toHaveLength(0);
    held.release();
    const text = await drain(reader);
    expect(text).toContain("data: [DONE]");
    await vi.waitFor(() => expect(t.seen).toHaveLength(1));
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 200, error: null, tokensOut: 3 });
    expect(t.seen[0]!.ttftMs).not.toBeNull();
    expect(t.limiter.settled).toEqual([{ tenant: "acme", estimated: t.seen[0]!.reservedTokens, actual: 10 }]);
    expect(t.recorder.size).toBe(1);
  });

  it("a stream the client cancels: once, as 499 client_closed; settled once", async () => {
    const t = setup(hangsAfterOneToken);
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(t.seen).toHaveLength(1));
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 499, error: "client_closed" });
    expect(t.limiter.settled).toHaveLength(1);
    expect(t.recorder.size).toBe(1);
  });

  it("a stream whose request signal aborts (the client hung up): once, as 499; settled once", async () => {
    const t = setup(hangsAfterOneToken);
    const client = new AbortController();
    const res = await t.post(chat({ stream: true }), { signal: client.signal });
    expect(res.status).toBe(200);
    client.abort();
    await vi.waitFor(() => expect(t.seen).toHaveLength(1));
    await settle();
    expect(t.seen).toHaveLength(1);
    expect(t.seen[0]).toMatchObject({ status: 499, error: "client_closed" });
    expect(t.limiter.settled).toHaveLength(1);
  });

  it("a stream that fails mid-way: once, when the error event has been sent; settled once", async () => {
    const t = setup(failsAfterOneToken);
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    const text = await drain(res.body!.getReader());
    expect(text).toContain('"code":"engine_failure"');
    await vi.waitFor(() => expect(t.seen).toHaveLength(1));
    await settle();
    expect(t.seen).toHaveLength(1);
    // the status was sent before the failure; the error code says what happened
    expect(t.seen[0]).toMatchObject({ status: 200, error: "engine_failure" });
    expect(t.limiter.settled).toHaveLength(1);
    expect(t.recorder.size).toBe(1);
  });

  it("an observer that throws is logged and does not keep the others from seeing the outcome", async () => {
    const directory = new MapDirectory(Object.values(TEST_TIERS));
    const key = directory.addTenant("acme", "standard");
    const log = memoryLog();
    const seen: number[] = [];
    const { app } = createGateway({
      directory,
      limiter: new CountingLimiter(),
      variants: TINY_CONFIGS.map((config) => ({ config, worker: scripted(config.name, () => answers("x")) })),
      observers: [
        () => ({
          name: "broken",
          observe: () => {
            throw new Error("boom");
          },
        }),
        () => ({ name: "after", observe: (o) => seen.push(o.status) }),
      ],
      log,
    });
    const res = await app.request("/v1/models", { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(seen).toEqual([200]);
    expect(log.lines.some((l) => l.includes("observer broken failed"))).toBe(true);
  });
});
