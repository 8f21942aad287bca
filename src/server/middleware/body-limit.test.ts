import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { memoryLog } from "../testkit.js";
import type { GatewayEnv } from "../types.js";
import { bodyLimit } from "./body-limit.js";
import { expectOpenAIError } from "./testkit.js";

const LIMIT = 16;

function app(log = memoryLog()) {
  return new Hono<GatewayEnv>()
    .use(bodyLimit(LIMIT, log))
    .post("/", (c) => c.json({ rawBody: c.get("rawBody") }))
    .get("/", (c) => c.json({ rawBody: c.get("rawBody") }));
}

/** A body sent as a stream of `chunks` (no content-length: read chunk by chunk). */
function streamed(chunks: readonly (string | Uint8Array)[], fail?: Error): RequestInit & { duplex: "half" } {
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[i++];
      if (next !== undefined) controller.enqueue(typeof next === "string" ? encoder.encode(next) : next);
      else if (fail) controller.error(fail);
      else controller.close();
    },
  });
  return { method: "POST", body, duplex: "half" };
}

const TOO_LARGE = {
  type: "invalid_request_error",
  code: "request_too_large",
  message: /^The request body is larger than the 16 bytes this server accepts\.$/,
};

describe("bodyLimit", () => {
  it("hands the body on as text, up to exactly the limit", async () => {
    const exact = "x".repeat(LIMIT);
    const res = await app().request("/", { method: "POST", body: exact });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rawBody: exact });
    const chunked = await app().request("/", streamed(['{"a":', "1}"]));
    expect(await chunked.json()).toEqual({ rawBody: '{"a":1}' });
  });

  it("a request without a body gets an empty one", async () => {
    expect(await (await app().request("/")).json()).toEqual({ rawBody: "" });
  });

  it("refuses a declared length over the limit with 413 before reading, closing the connection", async () => {
    const res = await app().request("/", {
      method: "POST",
      headers: { "content-length": String(LIMIT + 1) },
      body: "x".repeat(LIMIT + 1),
    });
    await expectOpenAIError(res, 413, TOO_LARGE);
    expect(res.headers.get("connection")).toBe("close");
  });

  it("refuses a streamed body once it passes the limit, and one whose declared length was too small", async () => {
    const res = await app().request("/", streamed(["x".repeat(10), "x".repeat(7)]));
    await expectOpenAIError(res, 413, TOO_LARGE);
    expect(res.headers.get("connection")).toBe("close");
    const understated = await app().request("/", {
      method: "POST",
      headers: { "content-length": "4" },
      body: "x".repeat(LIMIT + 4),
    });
    await expectOpenAIError(understated, 413, TOO_LARGE);
  });

  it("a body that is not UTF-8 is a 400", async () => {
    const res = await app().request("/", { method: "POST", body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    await expectOpenAIError(res, 400, {
      type: "invalid_request_error",
      code: null,
      message: /^The request body is not valid UTF-8\.$/,
    });
  });

  it("a body that breaks off mid-way is a 400 that closes the connection, and one debug line", async () => {
    const log = memoryLog();
    const res = await app(log).request("/", streamed(['{"mod'], new Error("socket hang up")));
    await expectOpenAIError(res, 400, {
      type: "invalid_request_error",
      code: null,
      message: /^The request body ended before it was complete\.$/,
    });
    expect(res.headers.get("connection")).toBe("close");
    expect(log.lines).toEqual(["[tritgate] debug - client hung up before the request was complete (socket hang up)"]);
  });
});
