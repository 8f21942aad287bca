/**
 * The response cache over real HTTP: the official `openai` client against a running gateway with
 * the committed nano models on worker threads, recording into PGlite through the database recorder.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Recording, schema, startRecording } from "../../db/index.js";
import type { VariantWorker } from "../../engines/pool/index.js";
import { createMemoryRateLimiter, type RateLimiter } from "../../tenants/index.js";
import { createGateway, type GatewayApp } from "../app.js";
import { type RunningServer, startServer } from "../serve.js";
import { MapDirectory, startNanoVariants } from "../testkit.js";

let workers: readonly VariantWorker[];
let gateway: GatewayApp;
let server: RunningServer;
let recording: Recording;
let limiter: RateLimiter;
let stateDir: string;
let keys: { acme: string; globex: string };

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });

beforeAll(async () => {
  const nano = await startNanoVariants();
  workers = nano.workers;
  const tiers = nano.config.tiers.map((t) => ({
    ...t,
    responseCache: { mode: "exact" as const, ttlSeconds: 300, billHits: false, similarity: 1 },
  }));
  const directory = new MapDirectory(tiers);
  keys = { acme: directory.addTenant("acme", "standard"), globex: directory.addTenant("globex", "standard") };
  stateDir = mkdtempSync(join(tmpdir(), "tritgate-cache-"));
  recording = await startRecording({ stateDir, flushIntervalMs: 50 });
  limiter = createMemoryRateLimiter();
  gateway = createGateway({
    directory,
    limiter,
    variants: nano.variants,
    recorder: recording.recorder,
    rateAlpha: 1e-9,
  });
  server = await startServer(gateway.app, { host: "127.0.0.1", port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await recording?.close();
  await limiter?.close();
  await Promise.all((workers ?? []).map((w) => w.close()));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const question = (content: string) => ({
  model: "nano-b158",
  messages: [{ role: "user" as const, content }],
  max_tokens: 12,
  temperature: 0,
});

async function streamed(key: string, body: ReturnType<typeof question>) {
  const { data, response } = await client(key)
    .chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let content = "";
  let role: string | undefined;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of data) {
    const choice = chunk.choices[0];
    role ??= choice?.delta.role;
    content += choice?.delta.content ?? "";
    finish = choice?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { content, role, finish, usage, cache: response.headers.get("x-tritgate-cache") };
}

describe("the response cache through the openai client (nano models, real HTTP)", () => {
  it("a JSON miss, then a JSON hit and a streamed hit with the same content and usage", async () => {
    const body = question("Tell me about the sea.");
    const miss = await client(keys.acme).chat.completions.create(body).withResponse();
    expect(miss.response.headers.get("x-tritgate-cache")).toBe("miss");
    const answer = miss.data.choices[0]!.message.content;
    expect(answer?.length).toBeGreaterThan(0);
    const hit = await client(keys.acme).chat.completions.create(body).withResponse();
    expect(hit.response.headers.get("x-tritgate-cache")).toBe("hit");
    expect(hit.response.headers.get("x-tritgate-cache-billed")).toBe("false");
    expect(hit.data.choices).toEqual(miss.data.choices);
    expect(hit.data.usage).toEqual(miss.data.usage);
    const stream = await streamed(keys.acme, body);
    expect(stream).toMatchObject({ cache: "hit", role: "assistant", content: answer });
    expect(stream.finish).toBe(miss.data.choices[0]!.finish_reason);
    expect(stream.usage).toEqual(miss.data.usage);
  });

  it("a streamed miss populates the cache; the JSON hit is the streamed answer", async () => {
    const body = question("What is a tree?");
    const first = await streamed(keys.acme, body);
    expect(first.cache).toBe("miss");
    const hit = await client(keys.acme).chat.completions.create(body).withResponse();
    expect(hit.response.headers.get("x-tritgate-cache")).toBe("hit");
    expect(hit.data.choices[0]!.message.content).toBe(first.content);
    expect(hit.data.usage).toEqual(first.usage);
  });

  it("two tenants sending the identical request: neither is answered from the other's entry", async () => {
    const body = question("Name a colour.");
    const a = await client(keys.acme).chat.completions.create(body).withResponse();
    const b = await client(keys.globex).chat.completions.create(body).withResponse();
    expect(a.response.headers.get("x-tritgate-cache")).toBe("miss");
    expect(b.response.headers.get("x-tritgate-cache")).toBe("miss");
    for (const key of [keys.acme, keys.globex]) {
      const again = await client(key).chat.completions.create(body).withResponse();
      expect(again.response.headers.get("x-tritgate-cache")).toBe("hit");
    }
    await recording.recorder.flush();
    const rows = await recording.database.orm
      .select({ tenantId: schema.requests.tenantId, cacheHit: schema.requests.cacheHit })
      .from(schema.requests)
      .where(eq(schema.requests.model, "nano-b158"));
    const of = (tenant: string, hit: boolean) => rows.filter((r) => r.tenantId === tenant && r.cacheHit === hit).length;
    // every request so far: acme 2 + 2 + 2 misses-and-hits above plus these; globex one miss, one hit
    expect(of("globex", false)).toBe(1);
    expect(of("globex", true)).toBe(1);
    expect(of("acme", true)).toBe(4);
    expect(of("acme", false)).toBe(3);
  });

  it("temperature > 0 without a seed bypasses the cache; the metrics count hits and misses", async () => {
    const body = { ...question("Tell me about the sea."), temperature: 0.7 };
    const res = await client(keys.acme).chat.completions.create(body).withResponse();
    expect(res.response.headers.get("x-tritgate-cache")).toBe("bypass");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^tritgate_cache_hits_total\{tier="standard"\} 5$/m);
    expect(metrics).toMatch(/^tritgate_cache_misses_total\{tier="standard"\} 4$/m);
  });
});
