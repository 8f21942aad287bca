/** `POST /v1/chat/completions`. */
import type { Context } from "hono";
import { errorResponse } from "../errors.js";
import { parseHints } from "../gateway/hints.js";
import { newId, nowSeconds } from "../ids.js";
import { chatFormat } from "../openai/chat-format.js";
import { structuredOutput, toolCallFormat } from "../openai/tools.js";
import { type ChatBody, messageText } from "../schemas/chat.js";
import { samplingParams, stopList } from "../schemas/common.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";
import { execute, releaseReservation } from "./execute.js";
import { maxTokensFor } from "./limits.js";

export function chatCompletions(services: RouteServices) {
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const body = c.get("body") as ChatBody;
    const { tier } = c.get("principal");
    try {
      const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
      const param = body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
      const maxTokens = maxTokensFor(requested, tier, param);
      const hints = parseHints(c.req.header("x-tritgate-quality"), c.req.header("x-tritgate-sla-ms"));
      const messages = body.messages.map((m) => ({ role: m.role, content: messageText(m) }));
      const structured = structuredOutput(body);
      const routed = services.gateway.route({ model: body.model, tier, messages, maxTokens: requested, hints });
      const logprobs = body.logprobs === true;
      const topLogprobs = logprobs ? (body.top_logprobs ?? 0) : 0;
      const includeUsage = body.stream === true && body.stream_options?.include_usage === true;
      const id = newId("chatcmpl-");
      const created = nowSeconds(services.gateway.now());
      return await execute(c, services, {
        endpoint: "chat.completions",
        model: body.model,
        routed,
        choices: body.n ?? 1,
        stream: body.stream === true,
        includeUsage,
        logprobs,
        request: (choice) => ({
          input: { kind: "chat", messages, ...(structured.tools ? { tools: structured.tools } : {}) },
          maxTokens,
          constraint: structured.constraint,
          sampling: samplingParams(body, topLogprobs, choice),
          stop: stopList(body.stop),
          tokenInfo: logprobs,
          priority: tier.priority,
        }),
        format: (variant) =>
          (structured.toolCalls ? toolCallFormat : chatFormat)(id, created, variant, logprobs, includeUsage),
      });
    } catch (e) {
      releaseReservation(c, services);
      return errorResponse(c, e);
    }
  };
}
