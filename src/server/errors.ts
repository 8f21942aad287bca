/** OpenAI's error body, `{"error":{"message","type","param","code"}}`, and the statuses that go with it. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { jsonResponse, setHeaders } from "./response.js";
import type { GatewayEnv } from "./types.js";

export interface OpenAIErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** An error the API answers with: status, OpenAI body fields and any extra headers (retry-after, …). */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The same error with more headers (e.g. the `x-ratelimit-*` figures on a 400 the limiter decided). */
  withHeaders(headers: Readonly<Record<string, string>>): ApiError {
    return new ApiError(this.status, this.message, this.type, this.code, this.param, { ...this.headers, ...headers });
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", code, param);

export const invalidApiKey = (message: string) =>
  new ApiError(401, message, "invalid_request_error", "invalid_api_key");

export const forbidden = (message: string, code = "model_not_allowed") =>
  new ApiError(403, message, "permission_error", code);

export const modelNotFound = (model: string) =>
  new ApiError(
    404,
    `The model \`${model}\` does not exist or you do not have access to it.`,
    "invalid_request_error",
    "model_not_found",
    "model",
  );

export const notFound = (message: string) => new ApiError(404, message, "invalid_request_error", "not_found");

/** The resource exists already, or is still in use (a tier a tenant is on). */
export const conflict = (message: string, param: string | null = null, code = "conflict") =>
  new ApiError(409, message, "invalid_request_error", code, param);

export const tooLarge = (limit: number) =>
  new ApiError(
    413,
    `The request body is larger than the ${limit} bytes this server accepts.`,
    "invalid_request_error",
    "request_too_large",
  );

export const rateLimited = (
  message: string,
  retryAfterSec: number | null,
  type = "requests",
  code = "rate_limit_exceeded",
  headers: Record<string, string> = {},
) =>
  new ApiError(429, message, type, code, null, {
    ...headers,
    ...(retryAfterSec === null ? {} : { "retry-after": String(Math.max(1, Math.ceil(retryAfterSec))) }),
  });

export const unavailable = (message: string, retryAfterSec: number | null = null, code = "service_unavailable") =>
  new ApiError(503, message, "server_error", code, null, {
    "x-should-retry": "true",
    ...(retryAfterSec === null ? {} : { "retry-after": String(Math.max(1, Math.ceil(retryAfterSec))) }),
  });

export const internalError = (message = "The server had an error while processing your request.") =>
  new ApiError(500, message, "server_error", "internal_error");

/**
 * The JSON response for an error; unknown errors become a 500 without leaking their message. The
 * error's code is the request outcome's, unless the route already named a more specific one.
 */
export function errorResponse(c: Context<GatewayEnv>, error: unknown): Response {
  const api = error instanceof ApiError ? error : internalError();
  setHeaders(c, api.headers);
  const outcome = c.get("outcome");
  if (outcome) outcome.error ??= api.code ?? api.type;
  return jsonResponse(c, api.body(), api.status);
}
