/**
 * Observer: a request the rate limiter admitted settles its reservation with the tokens it really
 * billed (none when it was refused or failed before a choice ran, or was a hit its tier does not bill).
 */
import type { ObserverFactory } from "./outcome.js";

export const settleLimiter: ObserverFactory = ({ deps, log }) => {
  const now = deps.now ?? Date.now;
  return {
    name: "settle-limiter",
    observe(outcome) {
      const { principal, reservedTokens } = outcome;
      if (!principal || reservedTokens === null) return;
      deps.limiter
        .settle(principal.tenant.id, principal.tier, reservedTokens, outcome.billedTokens, now())
        .catch((e: unknown) => log.warn(`${outcome.requestId} rate limiter settle failed: ${String(e)}`));
    },
  };
};
