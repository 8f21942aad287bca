/**
 * Client errors are never engine failures: on the committed nano models (whose chat template refuses
 * roles it does not know), requests that are the client's fault are 4xx and leave every breaker
 * closed; engine faults open a breaker, logged once, and `/health/ready` says when nothing can serve.
 */
import fc from "fast-check";
import OpenAI, { BadRequestError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError, type VariantWorker } from "../engines/pool/index.js";
import {
  memoryLog,
  type NanoGateway,
  served,
  startNanoGateway,
  startTestGateway,
  startTinyWorkers,
  TINY_CONFIGS,
} from "./testkit.js";
import type { ServedVariant, VariantRuntime } from "./types.js";

/** Any counted failure opens the breaker at once: the strictest setting for "never counted". */
const TRIP_ON_FIRST = { consecutiveFailures: 1, failureRate: 1, windowSize: 1, minSamples: 1, cooldownMs: 60_000 };

let nano: NanoGateway;
const log = memoryLog();
/** the gateway's clock: the property moves it a minute per request, so per-minute limits never bind */
let clock = Date.now();

beforeAll(async () => {
  nano = await startNanoGateway({ breaker: TRIP_ON_FIRST, log, now: () => clock });
});

afterAll(async () => {
  await nano?.close();
});

const breakers = (gw: { gateway: NanoGateway["gateway"] }) =>
  gw.gateway.states.all().map((v) => gw.gateway.states.breaker(v.config.name, gw.gateway.now())?.state);

const toolTurn = [
  { role: "user" as const, content: "What is the weather in Paris?" },
  {
    role: "assistant" as const,
    content: null,
    tool_calls: [
      { id: "call_1", type: "function" as const, function: { name: "weather", arguments: '{"city":"Paris"}' } },
    ],
  },
  { role: "tool" as const, tool_call_id: "call_1", content: "18 °C and sunny" },
];

describe("client errors on the nano models", () => {
  it("developer messages are served and tool turns are a 400; no breaker opens (openai client, default retries)", async () => {
    const client = new OpenAI({ apiKey: nano.keys.standard!, baseURL: nano.baseURL });
    for (let i = 0; i < 5; i++) {
      const answer = await client.chat.completions.create({
        model: "nano",
        messages: [
          { role: "developer", content: "Answer briefly." },
          { role: "user", content: "Once upon a time" },
        ],
        max_tokens: 4,
      });
      expect(answer.choices[0]?.message.role).toBe("assistant");
      const refused = await client.chat.completions.create({ model: "nano", messages: toolTurn, max_tokens: 4 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(BadRequestError);
      expect(refused).toMatchObject({ status: 400, param: "messages", code: "unsupported_messages" });
      expect((refused as Error).message).toMatch(/chat template of nano-\w+ cannot render these messages/);
    }
    expect(breakers(nano)).toEqual(["closed", "closed"]);
    expect(log.lines.filter((l) => /breaker|engine failure/.test(l))).toEqual([]);
    const ready = await fetch(`${nano.server.url}/health/ready`);
    expect(ready.status).toBe(200);
    const normal = await client.chat.completions.create({
      model: "nano",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
    });
    expect(normal.choices).toHaveLength(1);
  });

  it("property: no sequence of well-formed requests opens a breaker or gets a 5xx", async () => {
    const text = fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom("hi", "Once upon a time", "", "ünïcödé 🙂", "<|im_start|>") },
      fc.constant("the ".repeat(300)),
    );
    const content = fc.oneof(
      text,
      fc.array(
        text.map((t) => ({ type: "text", text: t })),
        { minLength: 1, maxLength: 2 },
      ),
    );
    const plain = fc.record({ role: fc.constantFrom("system", "developer", "user", "assistant"), content });
    const call = fc.record({
      id: fc.constantFrom("c1", "c2"),
      type: fc.constant("function"),
      function: fc.record({
        name: fc.constantFrom("f", "get_weather"),
        arguments: fc.constantFrom("{}", '{"a":1}', "x"),
      }),
    });
    const calling = fc.record({
      role: fc.constant("assistant"),
      content: fc.constant(null),
      tool_calls: fc.array(call, { minLength: 1, maxLength: 2 }),
    });
    const tool = fc.record({ role: fc.constant("tool"), content: text, tool_call_id: fc.constant("c1") });
    const body = fc.record(
      {
        model: fc.constantFrom("nano", "auto", "nano-b158", "nano-fp32"),
        messages: fc.array(fc.oneof({ weight: 12, arbitrary: plain }, calling, tool), { minLength: 1, maxLength: 4 }),
        max_tokens: fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) },
          fc.constantFrom(250, 300, 2048, 1_000_000, 100_000_000),
        ),
        n: fc.constantFrom(1, 2),
        stream: fc.boolean(),
        temperature: fc.constantFrom(0, 0.7, 2),
        seed: fc.integer({ min: -1000, max: 1000 }),
        logit_bias: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom({ "5": 10 }, { "4095": -100 }) },
          fc.constantFrom({ "4096": 1 }, { "999999": 5 }),
        ),
        stop: fc.constantFrom("\n", ["a", "b"]),
        user: fc.constant("u-1"),
        response_format: fc.constant({ type: "json_object" }),
      },
      { requiredKeys: ["model", "messages"] },
    );
    const tier = fc.constantFrom("free", "standard", "premium");
    let sent = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(tier, body), { minLength: 1, maxLength: 5 }), async (requests) => {
        for (const [t, b] of requests) {
          clock += 61_000;
          const res = await nano.app.request("/v1/chat/completions", {
            method: "POST",
            headers: { authorization: `Bearer ${nano.keys[t]}`, "content-type": "application/json" },
            body: JSON.stringify(b),
          });
          const out = await res.text();
          sent++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (process.env.FUZZ_DEBUG) console.log(res.status, out.slice(0, 200));
          expect(res.status, `${t} ${JSON.stringify(b).slice(0, 300)} → ${out.slice(0, 300)}`).toBeLessThan(500);
          if (res.status >= 400) expect(JSON.parse(out)).toHaveProperty("error.code");
          expect(breakers(nano)).toEqual(["closed", "closed"]);
        }
      }),
      { numRuns: 40, seed: 10 },
    );
    expect(sent).toBeGreaterThan(40);
    // the sequences were not all refused up front: many generated, and request faults were among them
    expect(statuses.get(200) ?? 0).toBeGreaterThan(sent / 10);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(log.lines.filter((l) => /breaker|engine failure/.test(l))).toEqual([]);
  });
});

describe("engine faults", () => {
  let workers: Record<string, VariantWorker>;

  beforeAll(async () => {
    workers = await startTinyWorkers();
  });

  afterAll(async () => {
    await Promise.all(Object.values(workers ?? {}).map((w) => w.close()));
  });

  /** A runtime whose generations fail (as a crashing kernel would) while `broken.on` is set. */
  function breakable(inner: VariantRuntime, broken: { on: boolean }): VariantRuntime {
    return {
      get name() {
        return inner.name;
      },
      get state() {
        return inner.state;
      },
      get error() {
        return inner.error;
      },
      get info() {
        return inner.info;
      },
      get slots() {
        return inner.slots;
      },
      get running() {
        return inner.running;
      },
      get waiting() {
        return inner.waiting;
      },
      generate(request, onToken, signal) {
        if (broken.on) return Promise.reject(new EngineError(inner.name, "Error", "kernel exploded"));
        return inner.generate(request, onToken, signal);
      },
    };
  }

  it("open a breaker (logged once, with the variant and the cause), make /health/ready 503 when none can serve, and a probe closes it", async () => {
    const broken = { on: true };
    let now = Date.UTC(2026, 0, 1);
    const lines = memoryLog();
    const variants: ServedVariant[] = served(workers).map((v) => ({ ...v, worker: breakable(v.worker, broken) }));
    const gw = await startTestGateway(variants, {
      breaker: { consecutiveFailures: 2, failureRate: 1, windowSize: 10, minSamples: 10, cooldownMs: 30_000 },
      log: lines,
      now: () => now,
    });
    const ask = () =>
      fetch(`${gw.baseURL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${gw.keys.standard}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
      });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await ask();
        expect(res.status).toBe(503);
        codes.push(((await res.json()) as { error: { code: string } }).error.code);
      }
      // two requests fail on both variants; then both breakers are open and the router refuses up front
      expect(codes).toEqual(["engine_failure", "engine_failure", "service_unavailable"]);
      const opened = lines.lines.filter((l) => l.includes("breaker opened"));
      expect(opened).toHaveLength(2);
      for (const name of TINY_CONFIGS.map((c) => c.name)) {
        expect(opened.filter((l) => l.includes(`variant ${name} `))).toHaveLength(1);
      }
      expect(opened[0]).toMatch(
        /^\[tritgate\] warn breaker opened: variant tiny-\S+ \(2 failures in a row; last: kernel exploded\)/,
      );
      const down = await fetch(`${gw.server.url}/health/ready`);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { status: string }).status).toBe("unavailable");

      broken.on = false;
      now += 30_000; // past the cool-down: the next request is a probe, and it succeeds
      expect((await fetch(`${gw.server.url}/health/ready`)).status).toBe(200);
      expect((await ask()).status).toBe(200);
      const closed = lines.lines.filter((l) => l.includes("breaker closed"));
      expect(closed).toHaveLength(1);
      expect(closed[0]).toMatch(/breaker closed: variant tiny-\S+ answered its probe request/);
    } finally {
      await gw.close();
    }
  });
});
