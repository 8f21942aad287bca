/**
 * Every route that returns tenant data, for the cross-tenant check in security.test.ts: a tenant's key
 * must get either a refusal or an answer holding nothing of another tenant. A new route that reads
 * tenant data (usage, cached responses, …) is one more entry here; the check runs it as it runs these.
 */
import { expect } from "vitest";

export interface TenantScopedRead {
  readonly name: string;
  /** the API listener, or the operations listener (`server.observability.port`) */
  readonly on: "api" | "operations";
  /** `{tenant}` is replaced by the other tenant's id, for routes that take one */
  readonly path: string;
}

export const TENANT_SCOPED_READS: readonly TenantScopedRead[] = [
  { name: "the decision log", on: "operations", path: "/admin/decisions?limit=10000" },
  { name: "the decision log asked for the other tenant", on: "operations", path: "/admin/decisions?tenant={tenant}" },
  { name: "the decision log on the API listener", on: "api", path: "/admin/decisions?limit=10000" },
  { name: "the tenant's own usage", on: "api", path: "/v1/usage" },
  { name: "usage asked for the other tenant", on: "api", path: "/v1/usage?tenant={tenant}" },
  { name: "the admin usage report", on: "operations", path: "/admin/usage?tenant={tenant}" },
  { name: "the admin usage by variant", on: "operations", path: "/admin/usage/variants" },
  { name: "the other tenant's decisions", on: "operations", path: "/admin/tenants/{tenant}/decisions" },
];

/** What marks the other tenant's data in an answer: its id and the ids of its requests. */
export interface OtherTenant {
  readonly id: string;
  readonly requestIds: readonly string[];
}

/**
 * Reads `read` with `key` (a tenant's): refused (401, 403 or 404, OpenAI-shaped), or answered without a
 * trace of `other`. Returns the status, so a caller can insist on a refusal.
 */
export async function expectNothingOfOtherTenant(
  bases: { readonly api: string; readonly operations: string },
  read: TenantScopedRead,
  key: string,
  other: OtherTenant,
): Promise<number> {
  const url = `${bases[read.on]}${read.path.replaceAll("{tenant}", encodeURIComponent(other.id))}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  if ([401, 403, 404].includes(res.status)) {
    const body = JSON.parse(text) as { error?: { message?: unknown; type?: unknown; code?: unknown } };
    expect(body.error, `${read.name}: ${text}`).toMatchObject({
      message: expect.any(String),
      type: expect.any(String),
    });
  } else {
    expect(res.status, `${read.name}: ${text}`).toBe(200);
  }
  for (const id of other.requestIds) expect(text, read.name).not.toContain(id);
  expect(text, read.name).not.toContain(`"${other.id}"`);
  return res.status;
}
