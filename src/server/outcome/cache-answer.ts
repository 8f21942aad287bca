/**
 * Observer: a completed answer to a request the cache missed is stored for the next identical one.
 * Only a whole answer is kept: status 200 without an error (a stream that failed part-way, was
 * cancelled or cut by the client ends otherwise), every choice finished by the engine (none aborted),
 * and not degraded (an answer a busy gateway gave below the request's quality need is not handed out
 * for the next `ttlSeconds` when the gateway may be idle).
 */
import { answerBytes } from "../cache/store.js";
import type { ObserverFactory } from "./outcome.js";

export const cacheAnswer: ObserverFactory = ({ deps, cache }) => {
  const now = deps.now ?? Date.now;
  return {
    name: "cache-answer",
    observe(o) {
      const lookup = o.cache;
      if (lookup?.status !== "miss" || o.status !== 200 || o.error !== null || o.degraded) return;
      const first = o.choices[0];
      if (!first || !o.principal || !o.request) return;
      if (o.choices.some((c) => c.result.finishReason === "abort")) return;
      const storedAt = now();
      const stored = cache.set(lookup.key, {
        tenantId: o.principal.tenant.id,
        endpoint: o.request.endpoint,
        variant: first.variant,
        choices: o.choices,
        storedAt,
        expiresAt: storedAt + lookup.policy.ttlSeconds * 1000,
        bytes: answerBytes(o.choices),
      });
      if (stored && lookup.probe) cache.semantic?.add(lookup.probe, lookup.key);
    },
  };
};
