import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { UNSUPPORTED } from "../schemas/parameters.js";
import { memoryLog } from "../testkit.js";
import type { GatewayEnv } from "../types.js";
import { bodyLimit } from "./body-limit.js";
import { expectOpenAIError } from "./testkit.js";
import { paramPath, validateJson } from "./validate.js";

const schema = z.strictObject({
  model: z.string(),
  n: z
    .number()
    .int()
    .min(1)
    .default(1)
    .transform((n) => n * 10),
  messages: z.array(z.strictObject({ role: z.enum(["user", "system"]), content: z.string() })).optional(),
  audio: z
    .unknown()
    .refine((v) => v === undefined, { message: "audio output is not served", params: { code: UNSUPPORTED } })
    .optional(),
});

const app = new Hono<GatewayEnv>()
  .use(bodyLimit(1 << 20, memoryLog()))
  .post("/", validateJson(schema), (c) => c.json({ body: c.req.valid("json") }));

const post = (body: string) => app.request("/", { method: "POST", body });

describe("validateJson", () => {
  it("hands the schema's output (defaults and transforms applied) to the route", async () => {
    const res = await post(JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ body: { model: "m", n: 10, messages: [{ role: "user", content: "hi" }] } });
  });

  it("a body that is not JSON is a 400 with OpenAI's hint, naming no param", async () => {
    for (const body of ["", "{", "{'model': 'm'}", "model=m"]) {
      await expectOpenAIError(await post(body), 400, {
        type: "invalid_request_error",
        code: null,
        message: /^We could not parse the JSON body of your request\./,
      });
    }
  });

  it("JSON that is not an object is a 400", async () => {
    for (const body of ["[]", "null", '"m"', "42", "true"]) {
      await expectOpenAIError(await post(body), 400, {
        type: "invalid_request_error",
        code: null,
        message: /^The request body must be a JSON object\.$/,
      });
    }
  });

  it("an unknown field is unknown_parameter naming it, nested ones by their path", async () => {
    await expectOpenAIError(await post(JSON.stringify({ model: "m", temprature: 1, top: 2 })), 400, {
      type: "invalid_request_error",
      code: "unknown_parameter",
      param: "temprature",
      message: /^Unrecognized request argument supplied: temprature, top$/,
    });
    const nested = JSON.stringify({ model: "m", messages: [{ role: "user", content: "a", name: "x" }] });
    await expectOpenAIError(await post(nested), 400, {
      type: "invalid_request_error",
      code: "unknown_parameter",
      param: "messages[0].name",
    });
  });

  it("a wrong value is invalid_value naming the param by its path", async () => {
    await expectOpenAIError(await post(JSON.stringify({ model: "m", n: 0 })), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "n",
      message: /^Invalid value for 'n': /,
    });
    const bad = JSON.stringify({
      model: "m",
      messages: [
        { role: "user", content: "a" },
        { role: "robot", content: "b" },
      ],
    });
    await expectOpenAIError(await post(bad), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "messages[1].role",
    });
    await expectOpenAIError(await post(JSON.stringify({ n: 2 })), 400, {
      type: "invalid_request_error",
      code: "invalid_value",
      param: "model",
    });
  });

  it("a refinement's own code is answered as that code", async () => {
    await expectOpenAIError(await post(JSON.stringify({ model: "m", audio: { voice: "x" } })), 400, {
      type: "invalid_request_error",
      code: UNSUPPORTED,
      param: "audio",
      message: /^Unsupported parameter: 'audio': audio output is not served$/,
    });
  });
});

describe("paramPath", () => {
  it("writes a zod path as OpenAI names params", () => {
    expect(paramPath([])).toBeNull();
    expect(paramPath(["model"])).toBe("model");
    expect(paramPath(["messages", 0, "content", 2, "text"])).toBe("messages[0].content[2].text");
    expect(paramPath([0, "a"])).toBe("[0].a");
  });
});
