import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { GatewayEnv } from "../types.js";
import { DEFAULT_MAX_HEADERS, headerLimit } from "./header-limit.js";
import { expectOpenAIError } from "./testkit.js";

const app = (max?: number) => new Hono<GatewayEnv>().use(headerLimit(max)).get("/", (c) => c.text("served"));

/** `n` distinct headers */
const headers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, String(i)]));

describe("headerLimit", () => {
  it("serves a request with exactly the limit's number of headers and refuses one more with 431", async () => {
    const ok = await app(3).request("/", { headers: headers(3) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("served");
    const over = await app(3).request("/", { headers: headers(4) });
    await expectOpenAIError(over, 431, {
      type: "invalid_request_error",
      code: "too_many_headers",
      message: /^The request has 4 headers; this server accepts at most 3\.$/,
    });
    // the rest of the request is not read: the connection is not reused
    expect(over.headers.get("connection")).toBe("close");
  });

  it("counts repeated names one by one from Node's raw header list", async () => {
    // two names, four lines: over a limit of 3 although the merged view holds only two names
    const incoming = { rawHeaders: ["cookie", "a=1", "cookie", "b=2", "cookie", "c=3", "host", "x"] };
    const res = await app(3).request("/", { headers: { cookie: "a=1, b=2, c=3", host: "x" } }, { incoming });
    await expectOpenAIError(res, 431, {
      type: "invalid_request_error",
      code: "too_many_headers",
      message: /has 4 headers/,
    });
    const within = await app(4).request("/", {}, { incoming });
    expect(within.status).toBe(200);
  });

  it("defaults to 200 headers", async () => {
    expect(DEFAULT_MAX_HEADERS).toBe(200);
    expect((await app().request("/", { headers: headers(200) })).status).toBe(200);
    expect((await app().request("/", { headers: headers(201) })).status).toBe(431);
  });
});
