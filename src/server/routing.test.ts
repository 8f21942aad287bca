/** Routing with real engines: which variant answers, the headers that say so, fallback and cancellation. */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError, GenerationAbortedError, type PoolToken, type VariantWorker } from "../engines/pool/index.js";
import type { DecisionRow, RecordedEntry } from "./recorder.js";
import { ADMIN_TOKEN, served, startTestGateway, startTinyWorkers, type TestGateway, TINY_CONFIGS } from "./testkit.js";
import type { ServedVariant, VariantRuntime } from "./types.js";

let workers: Record<string, VariantWorker>;
let gw: TestGateway;

beforeAll(async () => {
  workers = await startTinyWorkers();
  gw = await startTestGateway(served(workers));
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(workers ?? {}).map((w) => (w as VariantWorker).close()));
});

async function chat(
  base: TestGateway,
  key: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${base.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi there" }], max_tokens: 4, ...body }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

function messageText(json: Record<string, unknown>): string {
  const choices = json.choices as { message: { content: string } }[];
  return choices[0]!.message.content;
}

/** A streamed chat completion read to the end: the text of choice 0, the models named, [DONE] seen. */
async function streamChat(base: TestGateway, key: string, body: Record<string, unknown>) {
  const res = await fetch(`${base.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi there" }], stream: true, ...body }),
  });
  const raw = await res.text();
  let text = "";
  let done = false;
  const models = new Set<string>();
  for (const line of raw.split("\n")) {
    if (!line.startsWith("data: ")) continue;
    const data = line.slice(6);
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    const chunk = JSON.parse(data) as { model: string; choices: { delta: { content?: string } }[] };
    models.add(chunk.model);
    text += chunk.choices[0]?.delta.content ?? "";
  }
  return { status: res.status, headers: res.headers, text, models, done };
}

function decisionFor(base: TestGateway, id: string | null): DecisionRow | null {
  return base.memory.latest().find((e: RecordedEntry) => e.decision?.decisionId === id)?.decision ?? null;
}

describe("routing", () => {
  it("a low-quality-need request on an idle gateway goes to the ternary variant", async () => {
    const r = await chat(gw, gw.keys.standard, { model: "tiny" });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-tritgate-variant")).toBe("tiny-b158");
    expect(r.headers.get("x-tritgate-degraded")).toBe("false");
    const d = decisionFor(gw, r.headers.get("x-tritgate-decision"));
    expect(d).toMatchObject({ chosen: "tiny-b158", reason: "cheapest_feasible", fallbackChain: ["tiny-b158"] });
    expect(d?.candidates.map((c) => c.variant).sort()).toEqual(["tiny-b158", "tiny-fp32"]);
    expect(r.json.model).toBe("tiny-b158");
  });

  it("non-streaming answers carry x-tritgate-engine-ms, -worker-ms and -queue-ms; the handle's time holds the engine's", async () => {
    // the exact figures are asserted over scripted runtimes in timing-headers.test.ts
    const r = await chat(gw, gw.keys.standard, { model: "tiny", max_tokens: 2 });
    expect(r.status).toBe(200);
    for (const name of ["engine", "worker", "queue"]) {
      expect(r.headers.get(`x-tritgate-${name}-ms`)).toMatch(/^\d+\.\d{3}$/);
    }
    // the handle sees the worker's generation plus the message hops around it
    expect(Number(r.headers.get("x-tritgate-worker-ms"))).toBeGreaterThanOrEqual(
      Number(r.headers.get("x-tritgate-engine-ms")),
    );
  });

  it("a premium tier whose floor only fp32 meets gets fp32; `auto` routes the same way", async () => {
    for (const model of ["tiny", "auto"]) {
      const r = await chat(gw, gw.keys.premium, { model });
      expect(r.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
      expect(decisionFor(gw, r.headers.get("x-tritgate-decision"))?.reason).toBe("quality_floor");
    }
  });

  it("x-tritgate-quality: high raises the need; a pinned variant is served as named", async () => {
    const high = await chat(gw, gw.keys.standard, { model: "tiny" }, { "x-tritgate-quality": "high" });
    expect(high.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    const pinned = await chat(gw, gw.keys.standard, { model: "tiny-fp32" }, { "x-tritgate-quality": "low" });
    expect(pinned.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    expect(decisionFor(gw, pinned.headers.get("x-tritgate-decision"))?.reason).toBe("pinned");
    const bad = await chat(gw, gw.keys.standard, { model: "tiny" }, { "x-tritgate-quality": "ultra" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ param: "x-tritgate-quality" });
  });

  it("past the SLA, a reject tier gets 429 with retry-after", async () => {
    const rejected = await chat(gw, gw.keys.free, { model: "tiny" }, { "x-tritgate-sla-ms": "0.001" });
    expect(rejected.status).toBe(429);
    expect(Number(rejected.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(rejected.json.error).toMatchObject({ code: "rate_limit_exceeded" });
    expect(rejected.headers.get("x-tritgate-decision")).toMatch(/^dec_/);
    expect(decisionFor(gw, rejected.headers.get("x-tritgate-decision"))?.reason).toBe("rejected_overload");
  });

  it("under load on fp32, degrade tiers get ternary marked degraded and queue tiers wait for fp32", async () => {
    // fp32 reports 20 requests waiting: its predicted queue (~30 s at card rates) is past a 5 s SLA
    const variants: ServedVariant[] = [
      { config: TINY_CONFIGS[0]!, worker: workers["tiny-b158"]! },
      { config: TINY_CONFIGS[1]!, worker: wrap(workers["tiny-fp32"]!, { waiting: 20 }) },
    ];
    const base = await startTestGateway(variants);
    try {
      const sla = { "x-tritgate-sla-ms": "5000" };
      const degraded = await chat(base, base.keys.premium, { model: "tiny" }, sla);
      expect(degraded.status).toBe(200);
      expect(degraded.headers.get("x-tritgate-variant")).toBe("tiny-b158");
      expect(degraded.headers.get("x-tritgate-degraded")).toBe("true");
      expect(decisionFor(base, degraded.headers.get("x-tritgate-decision"))?.reason).toBe("degraded_sla");
      const queued = await chat(base, base.keys.patient, { model: "tiny" }, sla);
      expect(queued.status).toBe(200);
      expect(queued.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
      expect(queued.headers.get("x-tritgate-degraded")).toBe("false");
      expect(decisionFor(base, queued.headers.get("x-tritgate-decision"))?.reason).toBe("queued");
    } finally {
      await base.close();
    }
  });

  it("cascade tiers answer on ternary and escalate to fp32 when the first tokens are unsure", async () => {
    const r = await chat(gw, gw.keys.cascade, { model: "tiny" });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    expect(r.headers.get("x-tritgate-escalated")).toBe("true");
    const d = decisionFor(gw, r.headers.get("x-tritgate-decision"));
    expect(d).toMatchObject({
      reason: "cascade_start",
      chosen: "tiny-b158",
      fallbackChain: ["tiny-b158", "tiny-fp32"],
    });
  });

  it("streamed cascade: unsure first tokens are held back, and the escalated variant streams from its start", async () => {
    const body = { model: "tiny", max_tokens: 24, temperature: 0, seed: 1 };
    const direct = await chat(gw, gw.keys.premium, { ...body, model: "tiny-fp32" });
    const streamed = await streamChat(gw, gw.keys.cascade, body);
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    expect(streamed.headers.get("x-tritgate-escalated")).toBe("true");
    expect(streamed.models).toEqual(new Set(["tiny-fp32"]));
    // exactly the fp32 answer: nothing of the dropped ternary answer reached the client
    expect(streamed.text).toBe(messageText(direct.json));
    expect(streamed.text.length).toBeGreaterThan(0);
    expect(streamed.done).toBe(true);
  });

  it("streamed cascade: confident first tokens are released and the cheap answer streams on", async () => {
    const body = { model: "tiny", max_tokens: 24, temperature: 0, seed: 1 };
    const direct = await chat(gw, gw.keys.standard, { ...body, model: "tiny-b158" });
    const streamed = await streamChat(gw, gw.keys.confident, body);
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("x-tritgate-variant")).toBe("tiny-b158");
    expect(streamed.headers.get("x-tritgate-escalated")).toBeNull();
    expect(streamed.text).toBe(messageText(direct.json));
    expect(streamed.done).toBe(true);
  });

  it("the decision log is readable with the admin token only", async () => {
    const url = `${gw.server.url}/admin/decisions?limit=3`;
    const ok = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { data: RecordedEntry[] };
    expect(body.data).toHaveLength(3);
    expect(body.data[0]?.request.requestId).toBeTruthy();
    // a tenant key is known and not allowed here: 403, not the 401 of a wrong token
    const tenant = await fetch(url, { headers: { authorization: `Bearer ${gw.keys.standard}` } });
    expect(tenant.status).toBe(403);
    expect(await tenant.json()).toMatchObject({ error: { type: "permission_error", code: "admin_only" } });
    expect((await fetch(url, { headers: { authorization: "Bearer wrong-token" } })).status).toBe(401);
  });

  it("a client that disconnects mid-stream cancels the generation and frees the slot", async () => {
    // the tiny model finishes 128 tokens in tens of milliseconds, before a client could hang up
    // mid-stream; paced forwards its tokens at a larger model's rate (the pool's own cancellation
    // of a running generation is tested in engines/pool)
    const slow = paced(workers["tiny-b158"]!, 10);
    const base = await startTestGateway([
      { config: TINY_CONFIGS[0]!, worker: slow.runtime },
      { config: TINY_CONFIGS[1]!, worker: workers["tiny-fp32"]! },
    ]);
    try {
      const client = new OpenAI({ apiKey: base.keys.standard, baseURL: base.baseURL, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: "tiny-b158",
        messages: [{ role: "user", content: "go on" }],
        max_tokens: 128,
        stream: true,
        // a fixed seed and no end-of-sequence token (257): the answer is 128 tokens long
        seed: 3,
        logit_bias: { "257": -100 },
      });
      let seen = 0;
      for await (const _chunk of stream) {
        if (++seen === 3) {
          expect(slow.stats.running).toBe(1);
          stream.controller.abort();
          break;
        }
      }
      const deadline = Date.now() + 5000;
      while (slow.stats.running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(slow.stats.running).toBe(0);
      // the hang-up reached the generation as an abort, not a run to its 128th token
      expect(slow.stats.aborted).toBe(1);
      expect(slow.stats.completed).toBe(0);
    } finally {
      await base.close();
    }
  });
});

/** A runtime that delegates to `inner`, with some members replaced. */
function wrap(inner: VariantRuntime, over: Partial<VariantRuntime>): VariantRuntime {
  return {
    get name() {
      return inner.name;
    },
    get state() {
      return over.state ?? inner.state;
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
      return over.running ?? inner.running;
    },
    get waiting() {
      return over.waiting ?? inner.waiting;
    },
    generate: over.generate ?? ((...args) => inner.generate(...args)),
  };
}

/** A runtime whose generate fails (after `tokens` streamed tokens). */
function failing(inner: VariantRuntime, tokens = 0): VariantRuntime {
  return wrap(inner, {
    async generate(_request, onToken) {
      for (let i = 0; i < tokens; i++) {
        const t: PoolToken = { id: 65, text: "A", logprob: -1, top: [] };
        onToken?.(t);
      }
      throw new EngineError(inner.name, "Error", "kernel exploded");
    },
  });
}

/**
 * A runtime that runs the real worker but hands its tokens on one every `ms`, the pace of a larger
 * model, and stops with GenerationAbortedError when the request's signal aborts.
 */
function paced(inner: VariantRuntime, ms: number) {
  const stats = { running: 0, aborted: 0, completed: 0 };
  const runtime = wrap(inner, {
    get running() {
      return stats.running;
    },
    async generate(request, onToken, signal) {
      stats.running++;
      try {
        const tokens: PoolToken[] = [];
        const result = await inner.generate(request, (t) => tokens.push(t), signal);
        for (const t of tokens) {
          if (signal?.aborted) throw new GenerationAbortedError(inner.name);
          onToken?.(t);
          await new Promise((r) => setTimeout(r, ms));
        }
        if (signal?.aborted) throw new GenerationAbortedError(inner.name);
        stats.completed++;
        return result;
      } catch (e) {
        if (e instanceof GenerationAbortedError) stats.aborted++;
        throw e;
      } finally {
        stats.running--;
      }
    },
  });
  return { runtime, stats };
}

describe("engine failures", () => {
  it("retry on the fallback chain, then the breaker opens and the variant is skipped", async () => {
    const variants: ServedVariant[] = [
      { config: TINY_CONFIGS[0]!, worker: failing(workers["tiny-b158"]!) },
      { config: TINY_CONFIGS[1]!, worker: workers["tiny-fp32"]! },
    ];
    const base = await startTestGateway(variants, {
      breaker: { consecutiveFailures: 2, failureRate: 1, windowSize: 10, minSamples: 10, cooldownMs: 60_000 },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await chat(base, base.keys.standard, { model: "tiny" });
        expect(r.status).toBe(200);
        expect(r.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
        const d = decisionFor(base, r.headers.get("x-tritgate-decision"));
        expect(d?.fallbackChain).toEqual(["tiny-b158", "tiny-fp32"]);
      }
      expect(base.gateway.states.breaker("tiny-b158", Date.now())?.state).toBe("open");
      const after = await chat(base, base.keys.standard, { model: "tiny" });
      expect(after.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
      expect(decisionFor(base, after.headers.get("x-tritgate-decision"))?.chosen).toBe("tiny-fp32");
      // the ternary-only tier has nowhere to go: 503 with x-should-retry
      const free = await chat(base, base.keys.free, { model: "tiny" });
      expect(free.status).toBe(503);
      expect(free.headers.get("x-should-retry")).toBe("true");
      const ready = await fetch(`${base.server.url}/health/ready`);
      expect(ready.status).toBe(200);
      const health = (await ready.json()) as { variants: { name: string; breaker: string }[] };
      expect(health.variants.find((v) => v.name === "tiny-b158")?.breaker).toBe("open");
    } finally {
      await base.close();
    }
  });

  it("a failure after the stream started is an SSE error event, then the stream closes", async () => {
    const variants: ServedVariant[] = [
      { config: TINY_CONFIGS[0]!, worker: failing(workers["tiny-b158"]!, 2) },
      { config: TINY_CONFIGS[1]!, worker: workers["tiny-fp32"]! },
    ];
    const base = await startTestGateway(variants);
    try {
      const res = await fetch(`${base.baseURL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${base.keys.standard}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny-b158", messages: [{ role: "user", content: "x" }], stream: true }),
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      const events = text
        .trim()
        .split("\n\n")
        .map((e) => e.replace(/^data: /, ""));
      expect(JSON.parse(events[0]!).choices[0].delta.role).toBe("assistant");
      const last = JSON.parse(events.at(-1)!) as { error: { type: string; message: string } };
      expect(last.error.type).toBe("server_error");
      expect(text).not.toContain("[DONE]");
    } finally {
      await base.close();
    }
  });
});
