/** `POST /v1/chat/completions`. */
import type { Context } from "hono";
import { errorResponse } from "../errors.js";
import { parseHints } from "../gateway/hints.js";
import { newId, nowSeconds } from "../ids.js";
import type { RequestedOutput } from "../middleware/max-tokens.js";
import { chatFormat } from "../openai/chat-format.js";
import { structuredOutput, toolCallFormat } from "../openai/tools.js";
import type { ChatBody } from "../schemas/chat.js";
import { samplingParams, stopList } from "../schemas/common.js";
import { routeText, templateMessages } from "../schemas/messages.js";
import type { GatewayEnv } from "../types.js";
import type { RouteServices } from "./context.js";
import { execute, releaseReservation } from "./execute.js";
import { maxTokensFor } from "./limits.js";

export function chatCompletions(services: RouteServices) {
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const body = c.get("body") as ChatBody;
    const { tier } = c.get("principal");
    try {
      const { value: requested, param } = chatRequestedOutput(body);
      const maxTokens = maxTokensFor(requested, tier, param);
      const hints = parseHints(c.req.header("x-tritgate-quality"), c.req.header("x-tritgate-sla-ms"));
      const messages = templateMessages(body.messages);
      const routeMessages = messages.map((m) => ({ role: m.role, content: routeText(m) }));
      const routed = services.gateway.route({
        model: body.model,
        tier,
        messages: routeMessages,
        maxTokens: requested,
        hints,
      });
      const structured = structuredOutput(body);
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
          strictMaxTokens: requested !== undefined,
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

/** The output length the client asked for, and under which name. */
export function chatRequestedOutput(body: ChatBody): RequestedOutput {
  if (body.max_completion_tokens != null) return { value: body.max_completion_tokens, param: "max_completion_tokens" };
  return { value: body.max_tokens ?? undefined, param: "max_tokens" };
}
