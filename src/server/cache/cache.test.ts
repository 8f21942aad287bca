/**
 * The response cache in-process (app.request, engines scripted on the main thread so every
 * generation is counted): what is cached, what is not, how a hit is answered (JSON and SSE, from an
 * answer first sent either way), expiry, the memory bound, tenants, and what the recorder, limiter
 * and metrics are told.
 */
import { describe, expect, it, vi } from "vitest";
import type { ResponseCachePolicy } from "../../tenants/index.js";
import { createGateway } from "../app.js";
import type { ObserverFactory, RequestOutcome } from "../outcome/outcome.js";
import {
  answers,
  drain,
  failsAfterOneToken,
  failsAtOnce,
  hangsAfterOneToken,
  type Script,
  scripted,
  settle,
} from "../outcome/testkit.js";
import type { MemoryRecorder } from "../recorder.js";
import { CountingLimiter, MapDirectory, memoryLog, TINY_CONFIGS, tierConfig } from "../testkit.js";

interface Options {
  readonly policy?: Partial<ResponseCachePolicy>;
  readonly maxBytes?: number;
  readonly script?: Script;
  /** the tier's quality floor only the fp32 variant meets, and fp32 with a long queue: answers are degraded */
  readonly busyReference?: boolean;
}

function cachedGateway(options: Options = {}) {
  const policy: ResponseCachePolicy = {
    mode: "exact",
    ttlSeconds: 60,
    billHits: true,
    similarity: 0.95,
    ...options.policy,
  };
  const directory = new MapDirectory([
    tierConfig({
      name: "cached",
      responseCache: policy,
      ...(options.busyReference ? { qualityFloor: 0.95, ttftSlaMs: 500 } : {}),
    }),
    tierConfig({ name: "uncached" }),
  ]);
  const keys = {
    acme: directory.addTenant("acme", "cached"),
    globex: directory.addTenant("globex", "cached"),
    initech: directory.addTenant("initech", "uncached"),
  };
  const state = { generations: 0, script: options.script ?? answers("hello there"), clock: 1_000_000 };
  const limiter = new CountingLimiter();
  const seen: RequestOutcome[] = [];
  const watch: ObserverFactory = () => ({ name: "test", observe: (o) => seen.push(o) });
  const parts = createGateway({
    directory,
    limiter,
    variants: TINY_CONFIGS.map((config) => {
      const worker = scripted(config.name, () => {
        state.generations++;
        return state.script;
      });
      const busy = options.busyReference && config.name === "tiny-fp32";
      return { config, worker: busy ? { ...worker, running: worker.slots, waiting: 50 } : worker };
    }),
    observers: [watch],
    log: memoryLog(),
    rateAlpha: 1e-9,
    now: () => state.clock,
    ...(options.maxBytes !== undefined ? { responseCache: { maxBytes: options.maxBytes } } : {}),
  });
  const post = (body: unknown, key = keys.acme, path = "/v1/chat/completions", init: RequestInit = {}) =>
    parts.app.request(path, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      ...init,
    });
  return { ...parts, post, keys, state, limiter, seen, memory: parts.recorder as MemoryRecorder };
}

const greedy = (extra: Record<string, unknown> = {}) => ({
  model: "tiny-b158",
  messages: [{ role: "user", content: "hello" }],
  max_tokens: 8,
  temperature: 0,
  ...extra,
});

interface Chunk {
  object: string;
  choices: { index: number; delta?: { role?: string; content?: string | null }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** The SSE body's chunks, and whether it ended with `[DONE]`. */
async function events(res: Response): Promise<{ chunks: Chunk[]; done: boolean }> {
  const text = await drain(res.body!.getReader());
  const data = text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice("data: ".length));
  const done = data.at(-1) === "[DONE]";
  return { chunks: data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d) as Chunk), done };
}

const contentOf = (chunks: readonly Chunk[]) =>
  chunks.flatMap((c) => c.choices.map((ch) => ch.delta?.content ?? "")).join("");

describe("the response cache: what is cached", () => {
  it("a deterministic JSON request: miss, then a hit with the same content and usage and no engine run", async () => {
    const g = cachedGateway();
    const miss = await g.post(greedy());
    expect(miss.status).toBe(200);
    expect(miss.headers.get("x-tritgate-cache")).toBe("miss");
    const first = (await miss.json()) as { id: string; choices: unknown[]; usage: unknown; model: string };
    await settle();
    const hit = await g.post(greedy());
    expect(hit.status).toBe(200);
    expect(hit.headers.get("x-tritgate-cache")).toBe("hit");
    expect(hit.headers.get("x-tritgate-cache-billed")).toBe("true");
    expect(hit.headers.get("x-tritgate-variant")).toBe("tiny-b158");
    // a hit is not routed
    expect(hit.headers.get("x-tritgate-decision")).toBeNull();
    expect(hit.headers.get("x-request-id")).toMatch(/^req_/);
    const second = (await hit.json()) as typeof first;
    expect(second.choices).toEqual(first.choices);
    expect(second.usage).toEqual(first.usage);
    expect(second.model).toBe(first.model);
    expect(second.id).not.toBe(first.id);
    expect(g.state.generations).toBe(1);
  });

  it("a fixed seed with temperature > 0 is cached; temperature > 0 without a seed (or the default 1) never is", async () => {
    const g = cachedGateway();
    for (const body of [greedy({ temperature: 0.8 }), greedy({ temperature: undefined })]) {
      for (let i = 0; i < 2; i++) {
        const res = await g.post(body);
        expect(res.status).toBe(200);
        expect(res.headers.get("x-tritgate-cache")).toBe("bypass");
        await settle();
      }
    }
    expect(g.state.generations).toBe(4);
    expect(g.cache.stats().entries).toBe(0);
    const seeded = greedy({ temperature: 0.8, seed: 7 });
    expect((await g.post(seeded)).headers.get("x-tritgate-cache")).toBe("miss");
    await settle();
    expect((await g.post(seeded)).headers.get("x-tritgate-cache")).toBe("hit");
    expect(g.state.generations).toBe(5);
  });

  it("a tier whose cache is off: no header, nothing stored, every request generates", async () => {
    const g = cachedGateway();
    for (let i = 0; i < 2; i++) {
      const res = await g.post(greedy(), g.keys.initech);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-tritgate-cache")).toBeNull();
      await settle();
    }
    expect(g.state.generations).toBe(2);
    expect(g.seen.map((o) => o.cache)).toEqual([null, null]);
  });

  it("anything that changes the answer misses; how it is delivered and ignored fields do not", async () => {
    const g = cachedGateway();
    await g.post(greedy());
    await settle();
    const different = [
      greedy({ max_tokens: 9 }),
      greedy({ messages: [{ role: "user", content: "hello!" }] }),
      greedy({
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "hello" },
        ],
      }),
      greedy({ model: "tiny-fp32" }),
      greedy({ model: "tiny" }),
      greedy({ stop: ["x"] }),
      greedy({ seed: 1 }),
      greedy({ n: 2 }),
      greedy({ logprobs: true }),
      greedy({ frequency_penalty: 0.5 }),
      greedy({ logit_bias: { "5": 1 } }),
      greedy({ response_format: { type: "json_object" } }),
      greedy({ max_tokens: undefined, max_completion_tokens: 8 }),
    ];
    for (const body of different) {
      const res = await g.post(body);
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(res.headers.get("x-tritgate-cache"), JSON.stringify(body)).toBe("miss");
      await settle();
    }
    const hint = await g.post(greedy(), g.keys.acme, "/v1/chat/completions", {
      headers: {
        authorization: `Bearer ${g.keys.acme}`,
        "content-type": "application/json",
        "x-tritgate-quality": "0.9",
      },
    });
    expect(hint.headers.get("x-tritgate-cache")).toBe("miss");
    await settle();
    const generated = g.state.generations;
    // the same request with its fields in another order, null for absent, an ignored field, or
    // asked as a stream: the first answer
    const same = [
      { temperature: 0, max_tokens: 8, messages: [{ content: "hello", role: "user" }], model: "tiny-b158" },
      greedy({ seed: null, user: "someone", metadata: { a: "b" }, store: false }),
    ];
    for (const body of same) {
      const res = await g.post(body);
      expect(res.headers.get("x-tritgate-cache"), JSON.stringify(body)).toBe("hit");
    }
    expect(g.state.generations).toBe(generated);
  });

  it("a negated question is another request (GPTCache #694's failure cannot happen to an exact key)", async () => {
    const g = cachedGateway();
    const ask = (content: string) => greedy({ messages: [{ role: "user", content }] });
    g.state.script = answers("set enabled: true");
    await g.post(ask("how do I enable X"));
    await settle();
    g.state.script = answers("leave enabled unset");
    const negated = await g.post(ask("how do I not enable X"));
    expect(negated.headers.get("x-tritgate-cache")).toBe("miss");
    const body = (await negated.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]!.message.content).toBe("leave enabled unset");
    await settle();
    const original = await g.post(ask("how do I enable X"));
    expect(original.headers.get("x-tritgate-cache")).toBe("hit");
    expect(((await original.json()) as typeof body).choices[0]!.message.content).toBe("set enabled: true");
  });

  it("the endpoint is part of the key: a legacy completion is not a chat answer", async () => {
    const g = cachedGateway();
    await g.post(greedy());
    await settle();
    const text = { model: "tiny-b158", prompt: "hello", max_tokens: 8, temperature: 0 };
    const miss = await g.post(text, g.keys.acme, "/v1/completions");
    expect(miss.headers.get("x-tritgate-cache")).toBe("miss");
    const first = (await miss.json()) as { object: string; choices: { text: string }[] };
    await settle();
    const hit = await g.post(text, g.keys.acme, "/v1/completions");
    expect(hit.headers.get("x-tritgate-cache")).toBe("hit");
    const second = (await hit.json()) as typeof first;
    expect(second.object).toBe("text_completion");
    expect(second.choices).toEqual(first.choices);
    expect(g.state.generations).toBe(2);
  });
});

describe("the response cache: a hit in the shape asked for", () => {
  it("a stream answered from a cached JSON answer: role, content, finish, usage chunks and [DONE]", async () => {
    const g = cachedGateway();
    const json = (await (await g.post(greedy())).json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
      usage: Chunk["usage"];
    };
    await settle();
    const res = await g.post(greedy({ stream: true, stream_options: { include_usage: true } }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-cache")).toBe("hit");
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const { chunks, done } = await events(res);
    expect(done).toBe(true);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta).toMatchObject({ role: "assistant", content: "" });
    // one content chunk per stored token ("hello there", a character a token)
    const content = chunks.filter((c) => c.choices[0]?.delta?.content);
    expect(content.length).toBe("hello there".length);
    expect(contentOf(chunks)).toBe(json.choices[0]!.message.content);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish?.choices[0]?.finish_reason).toBe(json.choices[0]!.finish_reason);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(json.usage);
    expect(g.state.generations).toBe(1);
  });

  it("a JSON answer from a cached stream, and a stream again, without include_usage: no usage chunk", async () => {
    const g = cachedGateway();
    const streamed = await events(await g.post(greedy({ stream: true })));
    await settle();
    expect(streamed.done).toBe(true);
    const hit = await g.post(greedy());
    expect(hit.headers.get("x-tritgate-cache")).toBe("hit");
    const json = (await hit.json()) as { choices: { message: { content: string } }[] };
    expect(json.choices[0]!.message.content).toBe(contentOf(streamed.chunks));
    const again = await g.post(greedy({ stream: true }));
    expect(again.headers.get("x-tritgate-cache")).toBe("hit");
    const replayed = await events(again);
    expect(replayed.done).toBe(true);
    expect(contentOf(replayed.chunks)).toBe(contentOf(streamed.chunks));
    expect(replayed.chunks.some((c) => c.usage !== undefined)).toBe(false);
    expect(replayed.chunks.map((c) => c.choices)).toEqual(streamed.chunks.map((c) => c.choices));
    expect(g.state.generations).toBe(1);
  });
});

describe("the response cache: what is never cached", () => {
  it("an answer that failed before it started (503), or a stream that failed part-way", async () => {
    const g = cachedGateway({ script: failsAtOnce });
    expect((await g.post(greedy())).status).toBe(503);
    await settle();
    g.state.script = failsAfterOneToken;
    const broken = await events(await g.post(greedy({ stream: true })));
    expect(broken.done).toBe(false);
    await settle();
    expect(g.cache.stats().entries).toBe(0);
    g.state.script = answers("fine");
    const res = await g.post(greedy());
    expect(res.headers.get("x-tritgate-cache")).toBe("miss");
    expect(g.state.generations).toBe(3);
  });

  it("a degraded answer (the reference variant too busy for the SLA); the same request answered undegraded is stored", async () => {
    const busy = cachedGateway({ busyReference: true });
    for (let i = 0; i < 2; i++) {
      const res = await busy.post(greedy({ model: "tiny" }));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-tritgate-degraded")).toBe("true");
      expect(res.headers.get("x-tritgate-cache")).toBe("miss");
      await settle();
    }
    expect(busy.cache.stats().entries).toBe(0);
    expect(busy.state.generations).toBe(2);
    const idle = cachedGateway();
    await idle.post(greedy({ model: "tiny" }));
    await settle();
    expect((await idle.post(greedy({ model: "tiny" }))).headers.get("x-tritgate-cache")).toBe("hit");
  });

  it("a stream the client cancelled", async () => {
    const g = cachedGateway({ script: hangsAfterOneToken });
    const res = await g.post(greedy({ stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(g.seen).toHaveLength(1));
    expect(g.seen[0]).toMatchObject({ status: 499 });
    expect(g.cache.stats().entries).toBe(0);
    g.state.script = answers("fine");
    expect((await g.post(greedy({ stream: true }))).headers.get("x-tritgate-cache")).toBe("miss");
  });
});

describe("the response cache: expiry, memory bound, tenants", () => {
  it("expires after the tier's TTL", async () => {
    const g = cachedGateway({ policy: { ttlSeconds: 10 } });
    await g.post(greedy());
    await settle();
    g.state.clock += 9_999;
    const hit = await g.post(greedy());
    expect(hit.headers.get("x-tritgate-cache")).toBe("hit");
    expect(hit.headers.get("age")).toBe("9");
    g.state.clock += 1;
    expect((await g.post(greedy())).headers.get("x-tritgate-cache")).toBe("miss");
    expect(g.cache.stats().expirations).toBe(1);
    expect(g.state.generations).toBe(2);
  });

  it("evicts the least recently used entry to stay under its byte bound", async () => {
    // sized from a first entry: room for two entries of this size, not three
    const probe = cachedGateway();
    await probe.post(greedy({ max_tokens: 1 }));
    await settle();
    const size = probe.cache.stats().bytes;
    expect(size).toBeGreaterThan(0);
    const g = cachedGateway({ maxBytes: size * 2 + size / 2 });
    const a = greedy({ max_tokens: 1 });
    const b = greedy({ max_tokens: 2 });
    const c = greedy({ max_tokens: 3 });
    for (const body of [a, b]) {
      await g.post(body);
      await settle();
    }
    expect(g.cache.stats()).toMatchObject({ entries: 2, evictions: 0 });
    // a is used again, so b is now the least recently used
    expect((await g.post(a)).headers.get("x-tritgate-cache")).toBe("hit");
    await g.post(c);
    await settle();
    expect(g.cache.stats().entries).toBe(2);
    expect(g.cache.stats().evictions).toBe(1);
    expect(g.cache.stats().bytes).toBeLessThanOrEqual(g.cache.maxBytes);
    expect((await g.post(a)).headers.get("x-tritgate-cache")).toBe("hit");
    expect((await g.post(c)).headers.get("x-tritgate-cache")).toBe("hit");
    expect((await g.post(b)).headers.get("x-tritgate-cache")).toBe("miss");
  });

  it("two tenants with the identical request each get their own miss and their own hit", async () => {
    const texts = ["acme's answer", "globex's answer"];
    const g = cachedGateway();
    g.state.script = answers(texts[0]!);
    const a = (await (await g.post(greedy(), g.keys.acme)).json()) as { choices: { message: { content: string } }[] };
    await settle();
    g.state.script = answers(texts[1]!);
    const other = await g.post(greedy(), g.keys.globex);
    expect(other.headers.get("x-tritgate-cache")).toBe("miss");
    const b = (await other.json()) as typeof a;
    await settle();
    expect(a.choices[0]!.message.content).toBe(texts[0]);
    expect(b.choices[0]!.message.content).toBe(texts[1]);
    for (const [key, text] of [
      [g.keys.acme, texts[0]],
      [g.keys.globex, texts[1]],
    ] as const) {
      const res = await g.post(greedy(), key);
      expect(res.headers.get("x-tritgate-cache")).toBe("hit");
      expect(((await res.json()) as typeof a).choices[0]!.message.content).toBe(text);
    }
    expect(g.state.generations).toBe(2);
    expect(new Set(g.seen.map((o) => o.cache?.key)).size).toBe(2);
  });
});

describe("the response cache: what the recorder, limiter and metrics are told", () => {
  it("a billed hit: a request row with cache_hit, no decision, no engine time; the limiter settles its tokens", async () => {
    const g = cachedGateway();
    await g.post(greedy());
    await settle();
    await g.post(greedy());
    await settle();
    const [hitRow, missRow] = g.memory.latest(2);
    expect(missRow!.request).toMatchObject({ cacheHit: false, status: 200 });
    expect(missRow!.decision).not.toBeNull();
    expect(hitRow!.request).toMatchObject({
      cacheHit: true,
      status: 200,
      variant: "tiny-b158",
      tokensIn: missRow!.request.tokensIn,
      tokensOut: missRow!.request.tokensOut,
      cpuMs: null,
      cost: null,
      queueMs: null,
      price: missRow!.request.price,
    });
    expect(hitRow!.decision).toBeNull();
    const tokens = missRow!.request.tokensIn + missRow!.request.tokensOut;
    // the hit reserved exactly what it bills, and settled it
    expect(g.limiter.settled.at(-1)).toEqual({ tenant: "acme", estimated: tokens, actual: tokens });
    expect(g.seen.map((o) => o.cache?.status)).toEqual(["miss", "hit"]);
  });

  it("an unbilled hit: usage as in the answer, header says not billed, price 0, nothing reserved or settled", async () => {
    const g = cachedGateway({ policy: { billHits: false } });
    const miss = (await (await g.post(greedy())).json()) as { usage: unknown };
    await settle();
    const res = await g.post(greedy());
    expect(res.headers.get("x-tritgate-cache-billed")).toBe("false");
    expect(((await res.json()) as typeof miss).usage).toEqual(miss.usage);
    await settle();
    expect(g.memory.latest(1)[0]!.request).toMatchObject({ cacheHit: true, price: 0 });
    expect(g.limiter.settled.at(-1)).toEqual({ tenant: "acme", estimated: 0, actual: 0 });
    // a hit still counts against requests per minute
    expect(g.limiter.requests.get("acme")?.count).toBe(2);
  });

  it("moves tritgate_cache_hits_total and tritgate_cache_misses_total for the tier", async () => {
    const g = cachedGateway();
    for (let i = 0; i < 3; i++) {
      await g.post(greedy());
      await settle();
    }
    await g.post(greedy({ temperature: 1 }));
    await settle();
    const text = await (await g.app.request("/metrics")).text();
    expect(text).toMatch(/^tritgate_cache_hits_total\{tier="cached"\} 2$/m);
    expect(text).toMatch(/^tritgate_cache_misses_total\{tier="cached"\} 1$/m);
    // hits generated nothing: the variant's token counters count the two generations (the miss, the bypass)
    expect(g.state.generations).toBe(2);
    const generated = text.match(
      /^tritgate_completion_tokens_total\{tier="cached",variant="tiny-b158",[^}]*\} (\d+)$/m,
    );
    expect(Number(generated?.[1])).toBe(2 * "hello there".length);
  });
});
