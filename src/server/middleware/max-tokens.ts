/**
 * The tier's per-request output ceiling, checked before the rate limiter: a max_tokens no request of
 * this tier may have is a 400 `invalid_value`, never a 429 the client would retry.
 */
import type { Context, Input, MiddlewareHandler } from "hono";
import { errorResponse } from "../errors.js";
import { maxTokensFor } from "../routes/limits.js";
import type { GatewayEnv } from "../types.js";

export interface RequestedOutput {
  readonly value: number | undefined;
  readonly param: string;
}

export function outputCeiling<I extends Input>(
  requested: (c: Context<GatewayEnv, string, I>) => RequestedOutput,
): MiddlewareHandler<GatewayEnv, string, I> {
  return async (c, next) => {
    const { value, param } = requested(c);
    try {
      maxTokensFor(value, c.get("principal").tier, param);
    } catch (e) {
      return errorResponse(c, e);
    }
    return next();
  };
}
