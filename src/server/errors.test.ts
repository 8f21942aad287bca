import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ApiError, errorResponse, rateLimited, unavailable } from "./errors.js";
import { expectOpenAIError } from "./middleware/testkit.js";
import type { GatewayEnv } from "./types.js";

const answer = (error: unknown) => new Hono<GatewayEnv>().get("/", (c) => errorResponse(c, error)).request("/");

describe("errorResponse", () => {
  it("an ApiError answers with its status, OpenAI's four fields and its headers", async () => {
    const error = new ApiError(409, "taken", "invalid_request_error", "conflict", "name", { "x-extra": "1" });
    const res = await answer(error.withHeaders({ "x-more": "2" }));
    await expectOpenAIError(res, 409, {
      type: "invalid_request_error",
      code: "conflict",
      param: "name",
      message: /^taken$/,
    });
    expect(res.headers.get("x-extra")).toBe("1");
    expect(res.headers.get("x-more")).toBe("2");
  });

  it("any other error is a 500 that does not leak its message", async () => {
    for (const error of [new Error("secret path /etc/passwd"), "a string", undefined]) {
      const res = await answer(error);
      const body = await expectOpenAIError(res, 500, { type: "server_error", code: "internal_error" });
      expect(body.message).not.toMatch(/secret|string/);
    }
  });

  it("retry-after is whole seconds, at least 1; 503s say the client should retry", async () => {
    const limited = await answer(rateLimited("slow down", 0.2));
    expect(limited.headers.get("retry-after")).toBe("1");
    await expectOpenAIError(limited, 429, { type: "requests", code: "rate_limit_exceeded" });
    const busy = await answer(unavailable("busy", 2.5));
    expect(busy.headers.get("retry-after")).toBe("3");
    expect(busy.headers.get("x-should-retry")).toBe("true");
    await expectOpenAIError(busy, 503, { type: "server_error", code: "service_unavailable" });
    expect((await answer(unavailable("busy"))).headers.get("retry-after")).toBeNull();
  });
});
