/**
 * The variant gauges fed by real pool workers (the tiny family, both engines): KV-cache positions and
 * batch occupancy follow a generation while it runs and return to 0 after, as /metrics shows them.
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TinyFamily, tinyFamily } from "../../test/helpers/tiny-family.js";
import { startVariantWorker, type VariantWorker } from "../engines/pool/index.js";
import { createMetrics, metricsRoute, servedVariantSource } from "./index.js";
import { parseExposition, promtoolCheck } from "./testkit.js";

const hello = { kind: "chat" as const, messages: [{ role: "user", content: "Hello there" }] };
const MAX_TOKENS = 24;

describe("variant gauges over real pool workers", () => {
  let family: TinyFamily;
  let workers: { config: { name: string; engine: string }; worker: VariantWorker }[];

  beforeAll(async () => {
    family = await tinyFamily();
    workers = [
      {
        config: { name: "tiny-b158", engine: "bitnet" },
        worker: startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1 }),
      },
      {
        config: { name: "tiny-fp32", engine: "onnx" },
        worker: startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1, slots: 2 }),
      },
    ];
    await Promise.all(workers.map((w) => w.worker.ready));
  });
  afterAll(async () => {
    await Promise.all((workers ?? []).map((w) => w.worker.close()));
  });

  function scraper() {
    const metrics = createMetrics({
      variants: servedVariantSource(workers, { breaker: () => ({ state: "closed" }) }),
    });
    const app = new Hono().route("/metrics", metricsRoute(metrics.registry));
    return async () => {
      const text = await (await app.request("/metrics")).text();
      const samples = parseExposition(text);
      const gauge = (name: string, variant: string) =>
        samples.find((s) => s.name === name && s.labels.variant === variant)?.value;
      return { text, gauge };
    };
  }

  it("tritgate_variant_kv_tokens follows a long generation and returns to 0; occupancy from the same state", async () => {
    const scrape = scraper();
    for (const { config, worker } of workers) {
      const before = await scrape();
      expect(before.gauge("tritgate_variant_kv_tokens", config.name), config.name).toBe(0);
      expect(before.gauge("tritgate_variant_batch_occupancy_ratio", config.name)).toBe(0);

      // a scrape started at each token (k from 0), read after the generation
      const during: { k: number; scraped: ReturnType<typeof scrape> }[] = [];
      let k = 0;
      const result = await worker.generate(
        { input: hello, maxTokens: MAX_TOKENS, sampling: { temperature: 0 }, ignoreEos: true },
        () => {
          during.push({ k, scraped: scrape() });
          k++;
        },
      );
      expect(result.completionTokens).toBe(MAX_TOKENS);
      expect(during).toHaveLength(MAX_TOKENS);
      for (const { k, scraped } of during) {
        const { gauge, text } = await scraped;
        const kv = gauge("tritgate_variant_kv_tokens", config.name) ?? Number.NaN;
        // at least the prompt and the k tokens before this one; never more than the whole sequence
        expect(kv, `${config.name} token ${k}`).toBeGreaterThanOrEqual(result.promptTokens + k);
        expect(kv).toBeLessThanOrEqual(result.promptTokens + result.completionTokens - 1);
        expect(gauge("tritgate_variant_running_requests", config.name)).toBe(1);
        expect(gauge("tritgate_variant_batch_occupancy_ratio", config.name)).toBe(1 / worker.slots);
        if (k === 0) expect(promtoolCheck(text).ok).toBe(true);
      }

      const after = await scrape();
      expect(after.gauge("tritgate_variant_kv_tokens", config.name)).toBe(0);
      expect(after.gauge("tritgate_variant_running_requests", config.name)).toBe(0);
      expect(after.gauge("tritgate_variant_batch_occupancy_ratio", config.name)).toBe(0);
    }
  });
});
