/** A whole answer: every choice run (and a cascade judged), then one JSON body. */
import type { Context } from "hono";
import { type AnswerPlan, answer, type ChoiceOutcome } from "../gateway/answer.js";
import type { Gateway } from "../gateway/gateway.js";
import { jsonResponse, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";
import { failureResponse, routingHeaders } from "./answer-headers.js";
import { type RenderOptions, usageOf } from "./format.js";

export async function respondJson(
  c: Context<GatewayEnv>,
  gateway: Gateway,
  plan: AnswerPlan,
  render: RenderOptions,
): Promise<Response> {
  const draft = c.get("outcome");
  // the client's own signal: a client that hangs up stops the generation
  const signal = c.req.raw.signal;
  try {
    await answer(gateway, plan, draft, signal);
  } catch (e) {
    return failureResponse(c, draft, e, signal.aborted);
  }
  const variant = draft.choices[0]!.variant;
  routingHeaders(c, gateway, draft, variant);
  engineHeaders(c, draft.choices);
  return jsonResponse(
    c,
    render.format(variant).complete(draft.choices, usageOf(draft.choices, render.choicesPerPrompt)),
  );
}

/**
 * Whole answers say where their time went, summed over choices, so gateway overhead can be told from
 * engine time: `engine-ms` is prefill + decode timed inside the worker, `worker-ms` the same
 * generation seen from the pool handle (adds the message hops and tokenising), `queue-ms` the wait
 * for a slot.
 */
function engineHeaders(c: Context<GatewayEnv>, outcomes: readonly ChoiceOutcome[]): void {
  let engineMs = 0;
  let workerMs = 0;
  let queueMs = 0;
  for (const o of outcomes) {
    engineMs += o.result.prefillMs + o.result.decodeMs;
    workerMs += o.workerMs;
    queueMs += o.result.queueMs;
  }
  setHeader(c, "x-tritgate-engine-ms", engineMs.toFixed(3));
  setHeader(c, "x-tritgate-worker-ms", workerMs.toFixed(3));
  setHeader(c, "x-tritgate-queue-ms", queueMs.toFixed(3));
}
