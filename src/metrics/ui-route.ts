/**
 * `GET /ui`: a live page over the gateway's own recent requests (no Prometheus, no Grafana), with
 * uPlot served from the installed package (no CDN). `GET /ui/data.json` is the summary it polls.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Hono } from "hono";
import type { GatewayMetrics } from "./metrics.js";
import { type SummaryOptions, summarize, type TierSla } from "./recent.js";

/** The page's files, from src/metrics (tsx) or dist/src/metrics (built; the files stay in src). */
const UI_DIR =
  [join(import.meta.dirname, "ui"), join(import.meta.dirname, "../../../src/metrics/ui")].find((dir) =>
    existsSync(join(dir, "index.html")),
  ) ?? join(import.meta.dirname, "ui");

export interface UiOptions {
  readonly metrics: Pick<GatewayMetrics, "recent" | "now">;
  /** the tiers' SLA bounds, drawn against their p95 */
  readonly tiers?: readonly TierSla[];
  /** where the route is mounted; the page's asset URLs start with it */
  readonly basePath?: string;
  readonly summary?: Omit<SummaryOptions, "tiers">;
}

export function uiRoute(options: UiOptions): Hono {
  const base = options.basePath ?? "/ui";
  const require = createRequire(import.meta.url);
  const read = (path: string) => readFileSync(path, "utf8");
  const page = read(join(UI_DIR, "index.html")).replaceAll("{{base}}", base);
  const app = read(join(UI_DIR, "app.js"));
  const uplot = read(require.resolve("uplot/dist/uPlot.iife.min.js"));
  const uplotCss = read(require.resolve("uplot/dist/uPlot.min.css"));
  const js = "text/javascript; charset=utf-8";
  return new Hono()
    .get("/", (c) => c.html(page))
    .get("/app.js", (c) => c.body(app, 200, { "content-type": js }))
    .get("/uplot.js", (c) => c.body(uplot, 200, { "content-type": js }))
    .get("/uplot.css", (c) => c.body(uplotCss, 200, { "content-type": "text/css; charset=utf-8" }))
    .get("/data.json", (c) =>
      c.json(
        summarize(options.metrics.recent.entries(), options.metrics.now(), {
          ...options.summary,
          ...(options.tiers ? { tiers: options.tiers } : {}),
        }),
      ),
    );
}
