/**
 * The gateway's Hono app. Middleware, outermost first: request id → header count → body limit → auth
 * → validation → output ceiling → rate limit → route. (Request id comes first so that even a 413
 * carries `x-request-id`; the output ceiling comes before the limiter so that a max_tokens no request
 * may have is a 400, not a 429.)
 */
import { type Context, Hono } from "hono";
import { ApiError, errorResponse, notFound } from "./errors.js";
import { approxTokens, Gateway } from "./gateway/gateway.js";
import { createLogger } from "./log.js";
import { adminAuth, auth } from "./middleware/auth.js";
import { bodyLimit } from "./middleware/body-limit.js";
import { headerLimit } from "./middleware/header-limit.js";
import { outputCeiling } from "./middleware/max-tokens.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { requestId } from "./middleware/request-id.js";
import { validateJson } from "./middleware/validate.js";
import { MemoryRecorder } from "./recorder.js";
import { adminRoutes } from "./routes/admin.js";
import { chatCompletions, chatRequestedOutput } from "./routes/chat.js";
import { completions } from "./routes/completions.js";
import type { RouteServices } from "./routes/context.js";
import { healthRoutes } from "./routes/health.js";
import { modelsRoutes } from "./routes/models.js";
import { type ChatBody, chatSchema, messageText } from "./schemas/chat.js";
import { type CompletionBody, completionSchema } from "./schemas/completions.js";
import type { AppDeps, GatewayEnv } from "./types.js";

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface GatewayApp {
  readonly app: Hono<GatewayEnv>;
  readonly gateway: Gateway;
  readonly recorder: AppDeps["recorder"] & object;
}

/** Tokens a request may use at most, reserved by the rate limiter until it settles. */
function chatEstimate(c: Context<GatewayEnv>): number {
  const body = c.get("body") as ChatBody;
  const prompt = body.messages.reduce((s, m) => s + approxTokens(messageText(m)) + 4, 0);
  const output = body.max_completion_tokens ?? body.max_tokens ?? c.get("principal").tier.maxOutputTokens;
  return prompt + (output ?? 0) * (body.n ?? 1);
}

function completionEstimate(c: Context<GatewayEnv>): number {
  const body = c.get("body") as CompletionBody;
  const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
  const prompt = prompts.reduce((s, p) => s + approxTokens(p), 0);
  return prompt + (body.max_tokens ?? 16) * (body.n ?? 1) * prompts.length;
}

export function createGateway(given: AppDeps): GatewayApp {
  const log = given.log ?? createLogger();
  const deps: AppDeps = { ...given, log };
  const gateway = new Gateway(deps);
  const recorder = deps.recorder ?? new MemoryRecorder(1000);
  const now = deps.now ?? Date.now;
  const services: RouteServices = { gateway, deps, recorder };
  const limit = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;

  const v1 = new Hono<GatewayEnv>()
    .use(auth(deps.directory))
    .post(
      "/chat/completions",
      validateJson(chatSchema),
      outputCeiling((c) => chatRequestedOutput(c.get("body") as ChatBody)),
      rateLimit(deps.limiter, chatEstimate, now),
      chatCompletions(services),
    )
    .post(
      "/completions",
      validateJson(completionSchema),
      outputCeiling((c) => ({ value: (c.get("body") as CompletionBody).max_tokens ?? undefined, param: "max_tokens" })),
      rateLimit(deps.limiter, completionEstimate, now),
      completions(services),
    )
    .route("/models", modelsRoutes(services));

  const app = new Hono<GatewayEnv>()
    .use(requestId())
    .use(headerLimit(deps.maxHeaders))
    .use(bodyLimit(limit, log))
    .route("/v1", v1)
    .route("/health", healthRoutes(services))
    .use("/admin/*", adminAuth(deps.adminToken))
    .route("/admin", adminRoutes(recorder.latest?.bind(recorder)));

  app.notFound((c) => errorResponse(c, notFound(`Unknown route ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => {
    if (!(err instanceof ApiError)) log.error(`${c.get("requestId") ?? "-"} ${err.stack ?? err.message}`);
    return errorResponse(c, err);
  });
  return { app, gateway, recorder };
}

/** The Hono app alone, for callers that need nothing else. */
export function createApp(deps: AppDeps): Hono<GatewayEnv> {
  return createGateway(deps).app;
}
