/** JSON body → zod schema; a failure is a 400 invalid_request_error naming the offending `param`. */
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { errorResponse, invalidRequest } from "../errors.js";
import type { GatewayEnv } from "../types.js";

export function validateJson(schema: z.ZodType): MiddlewareHandler<GatewayEnv> {
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
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = issue ? paramPath(issue.path) : null;
      const message = issue ? `Invalid value for '${param ?? "body"}': ${issue.message}` : "Invalid request body.";
      return errorResponse(c, invalidRequest(message, param, "invalid_value"));
    }
    c.set("body", parsed.data);
    return next();
  };
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
