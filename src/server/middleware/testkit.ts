/**
 * Helpers for the middleware tests: each test builds a tiny Hono app around the one middleware it
 * tests and calls it in-process with `app.request()` (no socket, no worker). Not part of the package.
 */
import { expect } from "vitest";
import type { Principal } from "../../tenants/index.js";
import { tierConfig } from "../testkit.js";

export interface ExpectedError {
  readonly type: string;
  readonly code: string | null;
  readonly param?: string | null;
  readonly message?: RegExp;
}

/** Asserts the status and OpenAI's error body, exactly the four fields; returns the body. */
export async function expectOpenAIError(res: Response, status: number, want: ExpectedError) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
  expect(Object.keys(body).sort()).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error).toMatchObject({ type: want.type, code: want.code, param: want.param ?? null });
  if (want.message) expect(body.error.message).toMatch(want.message);
  return body.error;
}

/** A principal of tenant `acme` on a tier built from `over`. */
export function principal(over: Parameters<typeof tierConfig>[0] = { name: "standard" }): Principal {
  return { tenant: { id: "acme", name: "Acme", tier: over.name }, tier: tierConfig(over), keyId: "key_1" };
}
