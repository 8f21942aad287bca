/** `POST /v1/chat/completions`. */
import type { RouteMessage } from "../../../router/index.js";
import { promptTokenEstimate } from "../gateway/estimate.js";
import { parseHints } from "../gateway/hints.js";
import { newId, nowSeconds } from "../ids.js";
import type { RequestedOutput } from "../middleware/max-tokens.js";
import type { BodyContext } from "../middleware/validate.js";
import { chatFormat } from "../openai/chat-format.js";
import { structuredOutput, toolCallFormat } from "../openai/tools.js";
import { requestHeader } from "../response.js";
import type { ChatBody } from "../schemas/chat.js";
import { samplingParams, stopList } from "../schemas/common.js";
import { routeText, templateMessages } from "../schemas/messages.js";
import { complete } from "./complete.js";
import type { RouteServices } from "./context.js";
import { maxTokensFor } from "./limits.js";

export type ChatContext = BodyContext<ChatBody>;

export function chatCompletions(services: RouteServices) {
  return (c: ChatContext): Promise<Response> | Response => {
    const body = c.req.valid("json");
    const { tier } = c.get("principal");
    const { value: requested, param } = chatRequestedOutput(body);
    const maxTokens = maxTokensFor(requested, tier, param);
    const hints = parseHints(requestHeader(c, "x-tritgate-quality"), requestHeader(c, "x-tritgate-sla-ms"));
    const messages = templateMessages(body.messages);
    const route = () =>
      services.gateway.route({
        model: body.model,
        tier,
        messages: routeMessages(messages),
        maxTokens: requested,
        hints,
      });
    const structured = structuredOutput(body);
    const logprobs = body.logprobs === true;
    const topLogprobs = logprobs ? (body.top_logprobs ?? 0) : 0;
    const includeUsage = body.stream === true && body.stream_options?.include_usage === true;
    const id = newId("chatcmpl-");
    const created = nowSeconds(services.gateway.now());
    const input = { kind: "chat" as const, messages, ...(structured.tools ? { tools: structured.tools } : {}) };
    return complete(c, services.gateway, {
      endpoint: "chat.completions",
      model: body.model,
      route,
      choices: body.n ?? 1,
      choicesPerPrompt: body.n ?? 1,
      stream: body.stream === true,
      includeUsage,
      logprobs,
      request: (choice) => ({
        input,
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
  };
}

/** The output length the client asked for, and under which name. */
export function chatRequestedOutput(body: ChatBody): RequestedOutput {
  if (body.max_completion_tokens != null) return { value: body.max_completion_tokens, param: "max_completion_tokens" };
  return { value: body.max_tokens ?? undefined, param: "max_tokens" };
}

/** Tokens a request may use at most, reserved by the rate limiter until its outcome settles them. */
export function chatEstimate(c: ChatContext): number {
  const body = c.req.valid("json");
  const prompt = promptTokenEstimate(routeMessages(templateMessages(body.messages)));
  const output = body.max_completion_tokens ?? body.max_tokens ?? c.get("principal").tier.maxOutputTokens;
  return prompt + (output ?? 0) * (body.n ?? 1);
}

function routeMessages(messages: ReturnType<typeof templateMessages>): RouteMessage[] {
  return messages.map((m) => ({ role: m.role, content: routeText(m) }));
}
