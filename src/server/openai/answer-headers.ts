/** What both renderers send besides the body: routing headers, and the answer to a failed generation. */
import type { Context } from "hono";
import { GenerationAbortedError } from "../../engines/pool/index.js";
import { errorResponse } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import { isDegraded, type OutcomeDraft } from "../outcome/outcome.js";
import { bodyResponse, setHeader } from "../response.js";
import type { GatewayEnv } from "../types.js";

/**
 * `x-tritgate-variant` names the variant that really answered, `x-tritgate-variant-version` which of
 * its registry versions (the canary's or the stable one's); `x-tritgate-degraded` whether it is below the need.
 */
export function routingHeaders(c: Context<GatewayEnv>, gateway: Gateway, draft: OutcomeDraft, variant: string): void {
  const config = gateway.variant(variant)?.config;
  setHeader(c, "x-tritgate-variant", variant);
  const version = draft.versions.get(variant);
  if (version !== undefined) setHeader(c, "x-tritgate-variant-version", version);
  setHeader(
    c,
    "x-tritgate-degraded",
    String(draft.routed !== null && config !== undefined && isDegraded(draft.routed, config)),
  );
  if (draft.escalated) setHeader(c, "x-tritgate-escalated", "true");
}

/** A generation that failed before the answer started: 499 when the client left, else its API error. */
export function failureResponse(c: Context<GatewayEnv>, draft: OutcomeDraft, e: unknown, aborted: boolean): Response {
  if (draft.escalated) setHeader(c, "x-tritgate-escalated", "true");
  if (e instanceof GenerationAbortedError || aborted) {
    draft.error = "client_closed";
    return bodyResponse(c, null, 499);
  }
  return errorResponse(c, e);
}
