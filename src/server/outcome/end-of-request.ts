/**
 * The end of a request, as one hook: the observers see each request's outcome exactly once, after
 * its answer is complete. That is when the handler returns for a JSON answer (or any refusal), and
 * when the stream has ended, been cancelled by the client or failed for a streamed one.
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../log.js";
import type { GatewayEnv, VariantProfile } from "../types.js";
import { completeOutcome, OutcomeDraft, type OutcomeObserver, type StreamEnd } from "./outcome.js";

export function endOfRequest(
  observers: readonly OutcomeObserver[],
  now: () => number,
  variant: (name: string) => VariantProfile | undefined,
  log: Logger,
): MiddlewareHandler<GatewayEnv> {
  const fire = (c: Parameters<MiddlewareHandler<GatewayEnv>>[0], draft: OutcomeDraft, status: number) => {
    const outcome = completeOutcome(draft, {
      requestId: c.get("requestId"),
      principal: c.get("principal"),
      reservedTokens: c.get("reservedTokens"),
      status,
      now: now(),
      variant,
    });
    for (const observer of observers) {
      try {
        observer.observe(outcome);
      } catch (e) {
        log.error(`${outcome.requestId} observer ${observer.name} failed: ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
  };
  return async (c, next) => {
    const draft = new OutcomeDraft(now());
    c.set("outcome", draft);
    await next();
    if (draft.streamEnd === null) {
      fire(c, draft, c.res.status);
      return;
    }
    draft.streamEnd.then(
      (end: StreamEnd) => {
        draft.error = end.error;
        fire(c, draft, end.status);
      },
      (e: unknown) => {
        // the stream renderer resolves its end in every case; this is a bug, recorded as one
        log.error(`${c.get("requestId")} stream ended with an unexpected error: ${String(e)}`);
        draft.error = "internal_error";
        fire(c, draft, 500);
      },
    );
  };
}
