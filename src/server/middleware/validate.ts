/**
 * JSON body → zod schema; a failure is a 400 invalid_request_error naming the offending `param`. The
 * parsed body is Hono's validated `json` target, typed by the schema: handlers read it with
 * `c.req.valid("json")`.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { type ApiError, errorResponse, invalidRequest } from "../errors.js";
import { UNSUPPORTED } from "../schemas/parameters.js";
import type { GatewayEnv } from "../types.js";

/** The Hono input of a route whose JSON body validated as `T`. */
export interface JsonInput<T> {
  in: { json: unknown };
  out: { json: T };
}

/** The context of such a route: `c.req.valid("json")` is a `T`. */
export type BodyContext<T> = Context<GatewayEnv, string, JsonInput<T>>;

export function validateJson<S extends z.ZodType>(
  schema: S,
): MiddlewareHandler<GatewayEnv, string, JsonInput<z.output<S>>> {
  return async (c, next) => {
    let json: unknown;
    try {
      json = JSON.parse(c.get("rawBody") ?? "");
    } catch {
      return errorResponse(
        c,
        invalidRequest(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
        ),
      );
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return errorResponse(c, invalidRequest("The request body must be a JSON object."));
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) return errorResponse(c, issueError(parsed.error.issues));
    c.req.addValidatedData("json", parsed.data as object);
    return next();
  };
}

/**
 * The first issue as OpenAI words it: an unknown field is `unknown_parameter` naming it, a refined
 * issue may carry its own code (`params.code`), anything else is `invalid_value`.
 */
export function issueError(issues: readonly z.core.$ZodIssue[]): ApiError {
  const unknown = issues.find((i) => i.code === "unrecognized_keys");
  if (unknown) {
    const param = paramPath([...unknown.path, unknown.keys[0] ?? ""]);
    return invalidRequest(
      `Unrecognized request argument supplied: ${unknown.keys.map((k) => paramPath([...unknown.path, k])).join(", ")}`,
      param,
      "unknown_parameter",
    );
  }
  const issue = issues[0];
  if (!issue) return invalidRequest("Invalid request body.", null, "invalid_value");
  const param = paramPath(issue.path);
  const own = issue.code === "custom" ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
  if (own === UNSUPPORTED)
    return invalidRequest(`Unsupported parameter: '${param}': ${issue.message}`, param, UNSUPPORTED);
  return invalidRequest(`Invalid value for '${param ?? "body"}': ${issue.message}`, param, "invalid_value");
}

/** ["messages", 0, "content"] → "messages[0].content" */
export function paramPath(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}
