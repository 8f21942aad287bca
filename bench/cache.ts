/**
 * `npm run bench:cache [-- --json FILE] [--prompts N] [--max-tokens N]`
 *
 * Response-cache hit latency against the miss that filled it: the real gateway (`createGateway`,
 * the in-memory limiter, the memory recorder) over the committed nano-b158 on a worker thread, on
 * loopback HTTP with keep-alive. For each of N distinct greedy prompts, the first request is a miss
 * (a generation of up to `--max-tokens`), the second the hit; whole (JSON) and streamed (SSE, time
 * to the first content chunk and to `[DONE]`) in separate prompt sets. One client, one request at a
 * time: this measures latency, not capacity. A hit's time is the gateway's own path (auth,
 * validation, key hash, lookup, limiter, rendering, the end-of-request observers) with no engine.
 */
import { performance } from "node:perf_hooks";
import { createGateway } from "../src/server/app.js";
import { startServer } from "../src/server/serve.js";
import { MapDirectory, startNanoVariants } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";
import { argValue, table, writeJson } from "./timing.js";

const PROMPTS = Number(argValue("--prompts") ?? 30);
const MAX_TOKENS = Number(argValue("--max-tokens") ?? 32);
const jsonPath = argValue("--json");

const nano = await startNanoVariants();
const tiers = nano.config.tiers.map((t) => ({
  ...t,
  requestsPerMinute: 1_000_000,
  tokensPerMinute: 1_000_000_000,
  monthlyTokenBudget: 0,
  responseCache: { mode: "exact" as const, ttlSeconds: 3600, billHits: true, similarity: 1 },
}));
const directory = new MapDirectory(tiers);
const key = directory.addTenant("bench", "standard");
const limiter = createMemoryRateLimiter();
const gateway = createGateway({ directory, limiter, variants: nano.variants, rateAlpha: 1e-9 });
const server = await startServer(gateway.app, { host: "127.0.0.1", port: 0 });
const url = `${server.url}/v1/chat/completions`;

const body = (i: number, stream: boolean) =>
  JSON.stringify({
    model: "nano-b158",
    messages: [{ role: "user", content: `Question ${i}: tell me something about the number ${i * 7919}.` }],
    max_tokens: MAX_TOKENS,
    temperature: 0,
    ...(stream ? { stream: true } : {}),
  });

interface Sample {
  readonly totalMs: number;
  /** streamed: the first content chunk */
  readonly firstMs: number | null;
  readonly cache: string | null;
  readonly completionTokens: number | null;
}

async function request(payload: string, stream: boolean): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: payload,
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const cache = res.headers.get("x-tritgate-cache");
  if (!stream) {
    const json = (await res.json()) as { usage: { completion_tokens: number } };
    return { totalMs: performance.now() - t0, firstMs: null, cache, completionTokens: json.usage.completion_tokens };
  }
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let firstMs: number | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (firstMs === null && text.includes('"content":"') && /"content":"[^"]/.test(text))
      firstMs = performance.now() - t0;
  }
  if (!text.includes("data: [DONE]")) throw new Error("stream did not end with [DONE]");
  return { totalMs: performance.now() - t0, firstMs, cache, completionTokens: null };
}

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const summary = (xs: readonly number[]) => ({ p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), n: xs.length });

// warm-up: the worker's first generations and the HTTP connection
for (let i = 0; i < 3; i++) await request(body(-1 - i, false), false);

const results: Record<string, { miss: ReturnType<typeof summary>; hit: ReturnType<typeof summary> }> = {};
const rows: string[][] = [];
for (const stream of [false, true]) {
  const miss: Sample[] = [];
  const hit: Sample[] = [];
  for (let i = 0; i < PROMPTS; i++) {
    const offset = stream ? 100_000 : 0;
    const payload = body(i + offset, stream);
    const m = await request(payload, stream);
    const h = await request(payload, stream);
    if (m.cache !== "miss" || h.cache !== "hit") throw new Error(`expected miss then hit, got ${m.cache}, ${h.cache}`);
    miss.push(m);
    hit.push(h);
  }
  const mode = stream ? "sse" : "json";
  const measures: [string, (s: Sample) => number | null][] = stream
    ? [
        ["first content", (s) => s.firstMs],
        ["[DONE]", (s) => s.totalMs],
      ]
    : [["whole answer", (s) => s.totalMs]];
  for (const [what, of] of measures) {
    const m = summary(miss.map(of).filter((x): x is number => x !== null));
    const h = summary(hit.map(of).filter((x): x is number => x !== null));
    results[`${mode} ${what}`] = { miss: m, hit: h };
    rows.push([
      mode,
      what,
      m.p50.toFixed(2),
      m.p95.toFixed(2),
      h.p50.toFixed(2),
      h.p95.toFixed(2),
      (m.p50 / h.p50).toFixed(1),
    ]);
  }
  if (!stream) {
    const tokens = miss.map((s) => s.completionTokens ?? 0);
    results["json completion tokens"] = { miss: summary(tokens), hit: summary(tokens) };
  }
}

console.log(`response cache: ${PROMPTS} prompts, nano-b158, max_tokens ${MAX_TOKENS}, sequential over loopback (ms)\n`);
console.log(table(["mode", "to", "miss p50", "miss p95", "hit p50", "hit p95", "miss/hit p50"], rows));
console.log(`\ncache: ${JSON.stringify(gateway.cache.stats())}`);
if (jsonPath) {
  writeJson(jsonPath, {
    bench: "cache",
    model: "nano-b158",
    prompts: PROMPTS,
    maxTokens: MAX_TOKENS,
    results,
    cache: gateway.cache.stats(),
  });
}
await server.close();
await limiter.close();
await Promise.all(nano.workers.map((w) => w.close()));
