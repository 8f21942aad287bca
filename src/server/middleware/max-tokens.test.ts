import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { GatewayEnv } from "../types.js";
import { outputCeiling } from "./max-tokens.js";
import { expectOpenAIError, principal } from "./testkit.js";

/** `?max=N` is the request's max_completion_tokens; the tier's ceiling is `maxOutputTokens`. */
function app(maxOutputTokens: number) {
  return new Hono<GatewayEnv>()
    .use(async (c, next) => {
      c.set("principal", principal({ name: "standard", maxOutputTokens }));
      await next();
    })
    .use(
      outputCeiling((c) => {
        const max = c.req.query("max");
        return { value: max === undefined ? undefined : Number(max), param: "max_completion_tokens" };
      }),
    )
    .get("/", (c) => c.text("served"));
}

describe("outputCeiling", () => {
  it("passes a request that asks for no more than the tier allows, or names no max", async () => {
    for (const path of ["/", "/?max=1", "/?max=128"]) expect((await app(128).request(path)).status, path).toBe(200);
  });

  it("a max over the tier's ceiling is a 400 invalid_value naming the request's param, not a 429", async () => {
    await expectOpenAIError(await app(128).request("/?max=129"), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "max_completion_tokens",
      message: /^max_completion_tokens is too large: 129\. Your tier allows at most 128 output tokens per request\.$/,
    });
  });

  it("a tier without a ceiling is bounded at 4096", async () => {
    expect((await app(0).request("/?max=4096")).status).toBe(200);
    await expectOpenAIError(await app(0).request("/?max=4097"), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "max_completion_tokens",
      message: /at most 4096 output tokens/,
    });
  });
});
