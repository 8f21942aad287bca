/**
 * Roles through the official openai client over loopback HTTP: `developer` is `system`, tool-calling
 * turns reach the chat template as transformers passes them, and a template that cannot render them
 * is a 400 that says so. Variant tiny-b158 here has no template of its own (ChatML, which renders tool
 * calls); tiny-fp32 keeps the synthetic family's template, which never reads `tool_calls`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI, { BadRequestError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TINY_SPEC, tinyFamily } from "../../test/helpers/tiny-family.js";
import { syntheticBitNet } from "../engines/bitnet/index.js";
import { startVariantWorker, type VariantWorker } from "../engines/pool/index.js";
import { writeGGUF } from "../formats/gguf/index.js";
import { startTestGateway, type TestGateway, TINY_CONFIGS } from "./testkit.js";

let chatml: VariantWorker;
let plain: VariantWorker;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  const spec = syntheticBitNet(TINY_SPEC);
  const path = join(mkdtempSync(join(tmpdir(), "tg-roles-")), "chatml.gguf");
  await writeGGUF(path, { ...spec, metadata: [...spec.metadata].filter(([key]) => key !== "tokenizer.chat_template") });
  chatml = startVariantWorker({ name: "tiny-b158", path, threads: 1 });
  plain = startVariantWorker({ name: "tiny-fp32", path: (await tinyFamily()).onnx, threads: 1 });
  await Promise.all([chatml.ready, plain.ready]);
  gw = await startTestGateway([
    { config: TINY_CONFIGS[0]!, worker: chatml },
    { config: TINY_CONFIGS[1]!, worker: plain },
  ]);
  client = new OpenAI({ apiKey: gw.keys.standard, baseURL: gw.baseURL, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([chatml?.close(), plain?.close()]);
});

const ask = (model: string, messages: OpenAI.Chat.ChatCompletionMessageParam[]) =>
  client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0, seed: 3 });

const question: OpenAI.Chat.ChatCompletionMessageParam = { role: "user", content: "Weather in Paris?" };
const toolAnswer: OpenAI.Chat.ChatCompletionMessageParam = { role: "tool", tool_call_id: "call_1", content: "18 C" };
const calling: OpenAI.Chat.ChatCompletionMessageParam = {
  role: "assistant",
  content: null,
  tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }],
};

describe("roles through the openai client", () => {
  it("a developer message is a system message (same prompt, same answer) on both templates", async () => {
    for (const model of ["tiny-b158", "tiny-fp32"]) {
      const system = await ask(model, [{ role: "system", content: "Be brief." }, question]);
      const developer = await ask(model, [{ role: "developer", content: "Be brief." }, question]);
      expect(developer.usage?.prompt_tokens).toBe(system.usage?.prompt_tokens);
      expect(developer.choices[0]!.message.content).toBe(system.choices[0]!.message.content);
    }
  });

  it("a tool-calling turn and the tool's answer render through a template that reads them", async () => {
    const bare = await ask("tiny-b158", [question, { role: "assistant", content: null }, toolAnswer]);
    const withCall = await ask("tiny-b158", [question, calling, toolAnswer]);
    expect(withCall.choices[0]!.message.role).toBe("assistant");
    // the call is in the prompt with its arguments as an object (this vocabulary has one token per byte)
    const callText = '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    expect(withCall.usage!.prompt_tokens - bare.usage!.prompt_tokens).toBe(new TextEncoder().encode(callText).length);
  });

  it("a template that cannot render tool calls is a 400 that says so, and no breaker is touched", async () => {
    const refused = await ask("tiny-fp32", [question, calling, toolAnswer]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, param: "messages", code: "unsupported_messages" });
    expect((refused as Error).message).toMatch(/chat template of tiny-fp32 .* does not render tool calls/);
    // routed by family, the same conversation is answered by the variant whose template renders it
    const routed = await client.chat.completions
      .create({ model: "tiny", messages: [question, calling, toolAnswer], max_tokens: 2 })
      .withResponse();
    expect(routed.response.headers.get("x-tritgate-variant")).toBe("tiny-b158");
    for (const name of ["tiny-b158", "tiny-fp32"]) {
      expect(gw.gateway.states.breaker(name, Date.now())).toMatchObject({ state: "closed", consecutiveFailures: 0 });
    }
  });
});
