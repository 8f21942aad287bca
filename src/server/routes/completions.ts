/** `POST /v1/completions` (legacy text completions). */
import { promptTokenEstimate } from "../gateway/estimate.js";
import { parseHints } from "../gateway/hints.js";
import { newId, nowSeconds } from "../ids.js";
import type { RequestedOutput } from "../middleware/max-tokens.js";
import type { BodyContext } from "../middleware/validate.js";
import { completionFormat } from "../openai/completion-format.js";
import { requestHeader } from "../response.js";
import { samplingParams, stopList } from "../schemas/common.js";
import type { CompletionBody } from "../schemas/completions.js";
import { complete } from "./complete.js";
import type { RouteServices } from "./context.js";
import { maxTokensFor } from "./limits.js";

/** OpenAI's default for legacy completions. */
const DEFAULT_MAX_TOKENS = 16;

export type CompletionContext = BodyContext<CompletionBody>;

export function completions(services: RouteServices) {
  return (c: CompletionContext): Promise<Response> | Response => {
    const body = c.req.valid("json");
    const { tier } = c.get("principal");
    const prompts = promptsOf(body);
    const requested = body.max_tokens ?? undefined;
    const maxTokens = maxTokensFor(
      requested ?? Math.min(DEFAULT_MAX_TOKENS, tier.maxOutputTokens || DEFAULT_MAX_TOKENS),
      tier,
      "max_tokens",
    );
    const hints = parseHints(requestHeader(c, "x-tritgate-quality"), requestHeader(c, "x-tritgate-sla-ms"));
    const route = () =>
      services.gateway.route({
        model: body.model,
        tier,
        messages: routeMessages(prompts),
        maxTokens,
        hints,
      });
    const n = body.n ?? 1;
    const topLogprobs = body.logprobs ?? 0;
    const logprobs = body.logprobs != null;
    const includeUsage = body.stream === true && body.stream_options?.include_usage === true;
    const id = newId("cmpl-");
    const created = nowSeconds(services.gateway.now());
    const echo = body.echo === true && prompts.length === 1 ? prompts[0]! : null;
    return complete(c, services.gateway, {
      endpoint: "completions",
      model: body.model,
      route,
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
  };
}

export function completionRequestedOutput(body: CompletionBody): RequestedOutput {
  return { value: body.max_tokens ?? undefined, param: "max_tokens" };
}

/** Tokens a request may use at most, reserved by the rate limiter until its outcome settles them. */
export function completionEstimate(c: CompletionContext): number {
  const body = c.req.valid("json");
  const prompts = promptsOf(body);
  return (
    promptTokenEstimate(routeMessages(prompts)) +
    (body.max_tokens ?? DEFAULT_MAX_TOKENS) * (body.n ?? 1) * prompts.length
  );
}

const promptsOf = (body: CompletionBody): readonly string[] =>
  typeof body.prompt === "string" ? [body.prompt] : body.prompt;

const routeMessages = (prompts: readonly string[]) => prompts.map((p) => ({ role: "user", content: p }));
