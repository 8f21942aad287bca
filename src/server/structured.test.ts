/**
 * Structured output over real HTTP with the official `openai` client: response_format json_object and
 * json_schema, tools with every tool_choice, streamed and not, on both tiny variants (random weights:
 * unconstrained they never write JSON, so every valid answer here is the constraint's doing).
 */
import OpenAI, { BadRequestError } from "openai";
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionTool } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { advanceBytes, compileConstraint, initialState } from "../engines/constrain/index.js";
import { validateJson } from "../engines/constrain/testkit.js";
import type { VariantWorker } from "../engines/pool/index.js";
import { served, startTestGateway, startTinyWorkers, type TestGateway } from "./testkit.js";

let workers: Record<string, VariantWorker>;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  workers = await startTinyWorkers();
  gw = await startTestGateway(served(workers));
  client = new OpenAI({ apiKey: gw.keys.standard, baseURL: gw.baseURL, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(workers ?? {}).map((w) => w.close()));
});

const VARIANTS = ["tiny-b158", "tiny-fp32"] as const;
const user = (content: string) => [{ role: "user" as const, content }];

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 6 },
    age: { type: "integer" },
    role: { enum: ["admin", "user", null] },
    tags: { type: "array", items: { type: "boolean" }, maxItems: 3 },
  },
  required: ["name", "age", "role", "tags"],
  additionalProperties: false,
};

const WEATHER = {
  type: "object",
  properties: {
    city: { type: "string", enum: ["Oslo", "Lima"] },
    unit: { anyOf: [{ const: "C" }, { const: "F" }] },
  },
  required: ["city", "unit"],
  additionalProperties: false,
};

const TOOLS: ChatTool[] = [
  { type: "function", function: { name: "wx", description: "Weather in a city", parameters: WEATHER, strict: true } },
  { type: "function", function: { name: "now", parameters: { type: "object", properties: {} } } },
];
type ChatTool = ChatCompletionTool & { type: "function" };
const PARAMETERS: Record<string, unknown> = { wx: WEATHER, now: { type: "object", properties: {} } };

/** A text cut by max_tokens must still be a prefix the grammar allows. */
function isValidPrefix(text: string, spec: Parameters<typeof compileConstraint>[0]): boolean {
  return advanceBytes(initialState(compileConstraint(spec)), new TextEncoder().encode(text)) !== null;
}

describe("response_format", () => {
  it("json_schema strict: every answer of a seed sweep validates, on both variants", async () => {
    for (const model of VARIANTS) {
      for (const seed of [1, 2, 3]) {
        const res = await client.chat.completions.create({
          model,
          messages: user("Describe a person"),
          max_tokens: 96,
          seed,
          temperature: 0.7 + seed * 0.2,
          response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON, strict: true } },
        });
        const choice = res.choices[0]!;
        const text = choice.message.content ?? "";
        if (choice.finish_reason === "stop") {
          expect(validateJson(PERSON, JSON.parse(text))).toEqual([]);
        } else {
          expect(choice.finish_reason).toBe("length");
          const spec = { kind: "json_schema" as const, schema: PERSON, strict: true, path: "s" };
          expect(isValidPrefix(text, spec)).toBe(true);
        }
      }
    }
  });

  it("json_object: the answer is an object (or a valid prefix of one, when cut by max_tokens)", async () => {
    for (const model of VARIANTS) {
      const res = await client.chat.completions.create({
        model,
        messages: user("anything"),
        max_tokens: 32,
        seed: 5,
        response_format: { type: "json_object" },
      });
      const choice = res.choices[0]!;
      const text = choice.message.content ?? "";
      expect(text.startsWith("{")).toBe(true);
      if (choice.finish_reason === "stop") expect(typeof JSON.parse(text)).toBe("object");
      else expect(isValidPrefix(text, { kind: "json_object" })).toBe(true);
    }
  });

  it("max_tokens reached mid-JSON: finish_reason length and the incomplete text, as OpenAI answers", async () => {
    const res = await client.chat.completions.create({
      model: "tiny-b158",
      messages: user("x"),
      max_tokens: 3,
      seed: 2,
      response_format: { type: "json_object" },
    });
    const choice = res.choices[0]!;
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.content!.startsWith("{")).toBe(true);
    expect(() => JSON.parse(choice.message.content!)).toThrow();
  });

  it("streams the constrained answer as content deltas that join into the same JSON", async () => {
    const params = {
      model: "tiny-b158",
      messages: user("Describe a person"),
      max_tokens: 96,
      seed: 11,
      temperature: 0.9,
      response_format: {
        type: "json_schema" as const,
        json_schema: { name: "person", schema: PERSON, strict: true },
      },
    };
    const whole = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
  });

  it("refuses what it cannot honour with a 400 naming the param", async () => {
    const attempt = async (extra: Partial<ChatCompletionCreateParamsNonStreaming>) => {
      try {
        await client.chat.completions.create({ model: "tiny", messages: user("x"), max_tokens: 4, ...extra });
      } catch (e) {
        if (e instanceof BadRequestError) return (e.error as { param?: string }).param;
        throw e;
      }
      throw new Error("expected a 400");
    };
    const schema = (s: Record<string, unknown>, strict = false) => ({
      response_format: { type: "json_schema" as const, json_schema: { name: "x", schema: s, strict } },
    });
    expect(await attempt(schema({ type: "object", properties: { x: { type: "string", pattern: "^a" } } }))).toBe(
      "response_format.json_schema.schema.properties.x.pattern",
    );
    expect(await attempt(schema({ type: "object", properties: { x: { type: "string" } } }, true))).toBe(
      "response_format.json_schema.schema.additionalProperties",
    );
    expect(await attempt({ tool_choice: "required" })).toBe("tool_choice");
    expect(await attempt({ tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } })).toBe(
      "tool_choice.function.name",
    );
    const badTool = {
      type: "function" as const,
      function: { name: "f", parameters: { type: "object", properties: { a: { minimum: 1 } } } },
    };
    expect(await attempt({ tools: [badTool] })).toBe("tools[0].function.parameters.properties.a.minimum");
    expect(await attempt({ tools: TOOLS, response_format: { type: "json_object" } })).toBe("response_format");
  });
});

function checkCall(call: { id: string; type: string; function: { name: string; arguments: string } }): void {
  expect(call.id).toMatch(/^call_/);
  expect(call.type).toBe("function");
  expect(Object.keys(PARAMETERS)).toContain(call.function.name);
  expect(validateJson(PARAMETERS[call.function.name], JSON.parse(call.function.arguments))).toEqual([]);
}

describe("tools", () => {
  it("tool_choice required: a call of a given function, content null, finish_reason tool_calls", async () => {
    let calls = 0;
    for (const model of VARIANTS) {
      for (const seed of [1, 2]) {
        const res = await client.chat.completions.create({
          model,
          messages: user("What is the weather in Paris?"),
          tools: TOOLS,
          tool_choice: "required",
          max_tokens: 120,
          seed,
        });
        const { message, finish_reason } = res.choices[0]!;
        expect(message.content).toBeNull();
        if (finish_reason === "length") continue;
        expect(finish_reason).toBe("tool_calls");
        expect(message.tool_calls!.length).toBeGreaterThan(0);
        for (const call of message.tool_calls!) {
          if (call.type !== "function") throw new Error("not a function call");
          checkCall(call);
          calls++;
        }
      }
    }
    expect(calls).toBeGreaterThan(0);
  });

  it("a named tool_choice calls that function; parallel_tool_calls false makes one call", async () => {
    const res = await client.chat.completions.create({
      model: "tiny-fp32",
      messages: user("weather?"),
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "wx" } },
      parallel_tool_calls: false,
      max_tokens: 120,
      seed: 3,
    });
    const { message, finish_reason } = res.choices[0]!;
    expect(finish_reason).toBe("tool_calls");
    expect(message.tool_calls).toHaveLength(1);
    const call = message.tool_calls![0]!;
    if (call.type !== "function") throw new Error("not a function call");
    expect(call.function.name).toBe("wx");
    checkCall(call);
  });

  it("streams tool calls as OpenAI does; the SDK's stream helper assembles them", async () => {
    const params = {
      model: "tiny-b158",
      messages: user("weather?"),
      tools: TOOLS,
      tool_choice: { type: "function" as const, function: { name: "wx" } },
      parallel_tool_calls: false,
      max_tokens: 120,
      seed: 4,
    };
    const whole = await client.chat.completions.create(params);
    const raw = await client.chat.completions.create({ ...params, stream: true });
    const deltas: unknown[] = [];
    for await (const chunk of raw) deltas.push(chunk.choices[0]?.delta);
    expect(deltas[0]).toMatchObject({ role: "assistant", content: null, tool_calls: [{ index: 0, type: "function" }] });

    const runner = client.chat.completions.stream(params);
    const final = await runner.finalChatCompletion();
    const choice = final.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    const streamed = choice.message.tool_calls![0]!;
    const expected = whole.choices[0]!.message.tool_calls![0]!;
    if (streamed.type !== "function" || expected.type !== "function") throw new Error("not a function call");
    checkCall(streamed);
    expect({ name: streamed.function.name, arguments: streamed.function.arguments }).toEqual(expected.function);
  });

  it("n choices, logprobs and usage work with tool calls, streamed too", async () => {
    const params = {
      model: "tiny-fp32",
      messages: user("weather?"),
      // not strict: the SDK's helper refuses to assemble a strict call that max_tokens cut
      tools: TOOLS.map((t) => ({ ...t, function: { ...t.function, strict: false } })),
      tool_choice: "required" as const,
      parallel_tool_calls: false,
      max_tokens: 120,
      seed: 3,
      n: 2,
      logprobs: true,
    };
    const whole = await client.chat.completions.create(params);
    expect(whole.choices).toHaveLength(2);
    const runner = client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
    const final = await runner.finalChatCompletion();
    expect(final.usage?.completion_tokens).toBe(whole.usage?.completion_tokens);
    for (const i of [0, 1]) {
      const [a, b] = [whole.choices[i]!, final.choices[i]!];
      expect(b.finish_reason).toBe(a.finish_reason);
      expect(a.logprobs?.content?.length).toBeGreaterThan(0);
      const names = (c: typeof a) => c.message.tool_calls?.map((t) => (t.type === "function" ? t.function.name : ""));
      expect(names(b)).toEqual(names(a));
      if (a.finish_reason === "tool_calls") {
        for (const call of b.message.tool_calls!) if (call.type === "function") checkCall(call);
      }
    }
  });

  it("tool_choice auto answers with either a call or text, each well formed", async () => {
    const kinds = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const res = await client.chat.completions.create({
        model: "tiny-b158",
        messages: user("hello"),
        tools: TOOLS,
        max_tokens: 120,
        seed,
        temperature: 1.2,
      });
      const { message, finish_reason } = res.choices[0]!;
      if (message.tool_calls) {
        kinds.add("call");
        if (finish_reason === "tool_calls") for (const c of message.tool_calls) if (c.type === "function") checkCall(c);
      } else {
        kinds.add("text");
        expect(typeof message.content).toBe("string");
        expect(message.content!.startsWith("{") || message.content!.startsWith("[")).toBe(false);
      }
    }
    expect(kinds.size).toBeGreaterThan(0);
  });

  it("a stop string that cuts a call short ends with finish_reason stop, not tool_calls", async () => {
    const res = await client.chat.completions.create({
      model: "tiny-b158",
      messages: user("weather?"),
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "wx" } },
      parallel_tool_calls: false,
      stop: ['"arguments"'],
      max_tokens: 120,
      seed: 1,
    });
    const { message, finish_reason } = res.choices[0]!;
    expect(finish_reason).toBe("stop");
    expect(message.content).toBeNull();
  });

  it("tool_choice none: an ordinary answer, tools ignored", async () => {
    const res = await client.chat.completions.create({
      model: "tiny-b158",
      messages: user("hello"),
      tools: TOOLS,
      tool_choice: "none",
      max_tokens: 8,
      seed: 1,
    });
    expect(res.choices[0]!.message.tool_calls).toBeUndefined();
    expect(typeof res.choices[0]!.message.content).toBe("string");
  });
});
