/** `POST /v1/completions` (legacy text completions). */
import type { Context } from "hono";
import { errorResponse } from "../errors.js";
import { parseHints } from "../gateway/hints.js";
import { newId, nowSeconds } from "../ids.js";
import { completionFormat } from "../openai/completion-format.js";
import { samplingParams, stopList } from "../schemas/common.js";
import type { CompletionBody } from "../schemas/completions.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";
import { execute, releaseReservation } from "./execute.js";
import { maxTokensFor } from "./limits.js";

/** OpenAI's default for legacy completions. */
const DEFAULT_MAX_TOKENS = 16;

export function completions(services: RouteServices) {
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const body = c.get("body") as CompletionBody;
    const { tier } = c.get("principal");
    try {
      const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
      const requested = body.max_tokens ?? undefined;
      const maxTokens = maxTokensFor(
        requested ?? Math.min(DEFAULT_MAX_TOKENS, tier.maxOutputTokens || DEFAULT_MAX_TOKENS),
        tier,
        "max_tokens",
      )!;
      const hints = parseHints(c.req.header("x-tritgate-quality"), c.req.header("x-tritgate-sla-ms"));
      const messages = prompts.map((p) => ({ role: "user", content: p }));
      const routed = services.gateway.route({ model: body.model, tier, messages, maxTokens, hints });
      const n = body.n ?? 1;
      const topLogprobs = body.logprobs ?? 0;
      const logprobs = body.logprobs != null;
      const includeUsage = body.stream === true && body.stream_options?.include_usage === true;
      const id = newId("cmpl-");
      const created = nowSeconds(services.gateway.now());
      const echo = body.echo === true && prompts.length === 1 ? prompts[0]! : null;
      return await execute(c, services, {
        endpoint: "completions",
        model: body.model,
        routed,
        choices: prompts.length * n,
        choicesPerPrompt: n,
        stream: body.stream === true,
        includeUsage,
        logprobs,
        request: (choice) => ({
          input: { kind: "text", text: prompts[Math.floor(choice / n)]! },
          maxTokens,
          strictMaxTokens: requested !== undefined,
          sampling: samplingParams(body, topLogprobs, choice % n),
          stop: stopList(body.stop),
          tokenInfo: logprobs,
          priority: tier.priority,
        }),
        format: (variant) => completionFormat(id, created, variant, logprobs, includeUsage, echo),
      });
    } catch (e) {
      releaseReservation(c, services);
      return errorResponse(c, e);
    }
  };
}
