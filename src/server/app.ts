/**
 * The gateway's Hono app. Middleware, outermost first: request id → end of request (the outcome
 * observers) → header count → body limit → auth → validation → output ceiling → cache lookup → rate
 * limit → route. (The lookup comes before the limiter so that a hit reserves only what it bills.)
 * `/metrics`, `/ui`, `/dashboards` and `/admin` (the operations routes) are mounted on the same app, or on an
 * app of their own for a second listener (`AppDeps.observability`).
 * (Request id comes first so that even a 413 carries `x-request-id`; the end-of-request hook wraps
 * everything after it, so refusals are outcomes too; the output ceiling comes before the limiter so
 * that a max_tokens no request may have is a 400, not a 429.)
 */
import { Hono } from "hono";
import { hardware } from "../../kernels/index.js";
import {
  createEnergyMeter,
  createMetrics,
  dashboardsRoute,
  type GatewayMetrics,
  metricsRoute,
  type RecorderStatsSource,
  servedVariantSource,
  uiRoute,
} from "../metrics/index.js";
import { chatSemanticSplit } from "./cache/chat-split.js";
import { billedEstimate, cacheLookup } from "./cache/lookup.js";
import { ResponseCache } from "./cache/store.js";
import { ApiError, errorResponse, notFound } from "./errors.js";
import { Gateway } from "./gateway/gateway.js";
import { createLogger } from "./log.js";
import { adminAuth, auth, observabilityAuth } from "./middleware/auth.js";
import { bodyLimit } from "./middleware/body-limit.js";
import { headerLimit } from "./middleware/header-limit.js";
import { outputCeiling } from "./middleware/max-tokens.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { requestId } from "./middleware/request-id.js";
import { validateJson } from "./middleware/validate.js";
import { endOfRequest } from "./outcome/end-of-request.js";
import { observeMetrics } from "./outcome/observe-metrics.js";
import { OBSERVERS } from "./outcome/observers.js";
import { MemoryRecorder } from "./recorder.js";
import { adminRoutes } from "./routes/admin.js";
import { type ChatContext, chatCompletions, chatEstimate, chatRequestedOutput } from "./routes/chat.js";
import {
  type CompletionContext,
  completionEstimate,
  completionRequestedOutput,
  completions,
} from "./routes/completions.js";
import type { RouteServices } from "./routes/context.js";
import { healthRoutes } from "./routes/health.js";
import { modelsRoutes } from "./routes/models.js";
import { usageRoutes } from "./routes/usage.js";
import { chatSchema } from "./schemas/chat.js";
import { completionSchema } from "./schemas/completions.js";
import type { AppDeps, GatewayEnv } from "./types.js";

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** The response cache's bound when the deps give none (the config's default too). */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export interface GatewayApp {
  readonly app: Hono<GatewayEnv>;
  readonly gateway: Gateway;
  readonly recorder: AppDeps["recorder"] & object;
  /** the gateway's own Prometheus registry and recent-request window (served at /metrics and /ui) */
  readonly metrics: GatewayMetrics;
  /**
   * `/metrics`, `/ui`, `/dashboards` and `/admin` as an app of their own when `AppDeps.observability.separate`
   * (for a second listener; `app` then answers them 404), else null (`app` serves them).
   */
  readonly observability: Hono<GatewayEnv> | null;
  /** the response cache (answers only tiers whose `responseCache.mode` is not off) */
  readonly cache: ResponseCache;
}

export function createGateway(given: AppDeps): GatewayApp {
  const log = given.log ?? createLogger();
  const deps: AppDeps = { ...given, log };
  const gateway = new Gateway(deps);
  const recorder = deps.recorder ?? new MemoryRecorder(1000);
  const now = deps.now ?? Date.now;
  const services: RouteServices = { gateway, deps, recorder };
  const limit = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const metrics = createMetrics({
    variants: servedVariantSource(gateway.versions.served, {
      breaker: (name) => gateway.states.breaker(name, now()),
      modelBytes: (name) => gateway.variant(name)?.config.modelBytes ?? null,
    }),
    kernels: { kernels: () => hardware() },
    ...(isStatsSource(recorder) ? { recorder } : {}),
  });
  const energy = deps.energy ?? createEnergyMeter();
  const cache = new ResponseCache(
    deps.responseCache?.maxBytes ?? DEFAULT_CACHE_BYTES,
    deps.responseCache?.embedder ?? null,
  );
  const builtIn = deps.metrics === false ? OBSERVERS.filter((o) => o !== observeMetrics) : OBSERVERS;
  const observers = [...builtIn, ...(deps.observers ?? [])].map((make) =>
    make({ deps, recorder, log, metrics, energy, cache }),
  );
  const tierSla = deps.directory
    .tiers()
    .map((t) => ({ name: t.name, ttftSlaMs: t.ttftSlaMs, totalSlaMs: t.totalSlaMs }));
  const variantConfig = (name: string) => gateway.variant(name)?.config;

  const v1 = new Hono<GatewayEnv>()
    .use(auth(deps.directory))
    .post(
      "/chat/completions",
      validateJson(chatSchema),
      outputCeiling((c: ChatContext) => chatRequestedOutput(c.req.valid("json"))),
      cacheLookup(cache, "chat.completions", now, chatSemanticSplit),
      rateLimit(deps.limiter, billedEstimate(chatEstimate), now),
      chatCompletions(services),
    )
    .post(
      "/completions",
      validateJson(completionSchema),
      outputCeiling((c: CompletionContext) => completionRequestedOutput(c.req.valid("json"))),
      cacheLookup(cache, "completions", now),
      rateLimit(deps.limiter, billedEstimate(completionEstimate), now),
      completions(services),
    )
    .route("/models", modelsRoutes(services))
    .route("/usage", usageRoutes(services));

  const guard = observabilityAuth(deps.observability?.token);
  const operations = new Hono<GatewayEnv>()
    .use("/metrics/*", guard)
    .use("/dashboards/*", guard)
    .use("/ui/*", guard)
    .route("/metrics", metricsRoute(metrics.registry))
    .route("/dashboards", dashboardsRoute())
    .route("/ui", uiRoute({ metrics, tiers: tierSla }))
    .use("/admin/*", adminAuth(deps.adminToken, deps.directory))
    .route(
      "/admin",
      adminRoutes({
        latest: recorder.latest?.bind(recorder),
        tenancy: deps.tenancy,
        variants: () => deps.variants.map((v) => v.config.name),
        versions: gateway.versions,
        services,
      }),
    );

  const app = new Hono<GatewayEnv>()
    .use(requestId())
    .use(endOfRequest(observers, now, variantConfig, log))
    .use(headerLimit(deps.maxHeaders))
    .use(bodyLimit(limit, log))
    .route("/v1", v1)
    .route("/health", healthRoutes(services));
  const separate = deps.observability?.separate === true;
  if (!separate) app.route("/", operations);
  const observability = separate
    ? new Hono<GatewayEnv>().use(requestId()).use(headerLimit(deps.maxHeaders)).route("/", operations)
    : null;

  for (const served of observability ? [app, observability] : [app]) {
    served.notFound((c) => errorResponse(c, notFound(`Unknown route ${c.req.method} ${c.req.path}.`)));
    served.onError((err, c) => {
      if (!(err instanceof ApiError)) log.error(`${c.get("requestId") ?? "-"} ${err.stack ?? err.message}`);
      return errorResponse(c, err);
    });
  }
  return { app, observability, gateway, recorder, metrics, cache };
}

function isStatsSource(recorder: object): recorder is RecorderStatsSource {
  return typeof (recorder as Partial<RecorderStatsSource>).stats === "function";
}

/** The Hono app alone, for callers that need nothing else. */
export function createApp(deps: AppDeps): Hono<GatewayEnv> {
  return createGateway(deps).app;
}
