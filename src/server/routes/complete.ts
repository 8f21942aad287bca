/**
 * What chat and legacy completions share once the body is read: note what was asked on the request's
 * outcome, answer a cache hit from the cache (without routing), else route, answer a rejected
 * decision with its error, or render the answer whole (JSON) or streamed (SSE).
 */
import type { Context } from "hono";
import { replayCached } from "../cache/replay.js";
import { errorResponse } from "../errors.js";
import type { AnswerPlan } from "../gateway/answer.js";
import type { Gateway, Routed } from "../gateway/gateway.js";
import type { RenderOptions } from "../openai/format.js";
import { respondJson } from "../openai/json.js";
import { respondStream } from "../openai/stream.js";
import type { CompletionRequest } from "../outcome/outcome.js";
import { setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

export interface CompletionPlan extends CompletionRequest, RenderOptions {
  /** routing, run only when the cache does not answer */
  readonly route: () => Routed;
  readonly choices: number;
  readonly request: AnswerPlan["request"];
}

export function complete(c: Context<GatewayEnv>, gateway: Gateway, plan: CompletionPlan): Promise<Response> | Response {
  const draft = c.get("outcome");
  draft.request = { endpoint: plan.endpoint, model: plan.model, stream: plan.stream };
  const lookup = draft.cache;
  if (lookup?.hit) return replayCached(c, gateway, lookup, lookup.hit, plan);
  const routed = plan.route();
  draft.routed = routed;
  setHeader(c, "x-tritgate-decision", routed.decisionId);
  const { decision } = routed;
  if (decision.kind === "rejected") {
    draft.error = decision.reason;
    return errorResponse(c, gateway.rejection(decision, plan.model));
  }
  const answer: AnswerPlan = {
    decision,
    choices: plan.choices,
    request: plan.request,
    requestKey: c.get("requestId"),
  };
  return plan.stream ? respondStream(c, gateway, answer, plan) : respondJson(c, gateway, answer, plan);
}
