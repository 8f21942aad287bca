/**
 * The part of `TenancyAdmin` that `tritgate keys` needs, over a running gateway's admin API — for when
 * that gateway holds the embedded database and the command may not open it.
 */
import { z } from "zod";
import type { ApiKeyRecord, KeyRevocation, TenancyAdmin } from "../tenants/index.js";

export type KeyAdmin = Pick<TenancyAdmin, "listTenants" | "createKey" | "listKeys" | "revokeKey">;

const keySchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
const keyList = z.object({ data: z.array(keySchema) });
const tenantList = z.object({ data: z.array(z.object({ id: z.string(), name: z.string(), tier: z.string() })) });
const created = keySchema.extend({ key: z.string() });
const errorBody = z.object({ error: z.object({ message: z.string() }) });

/** What the list shows of a key: the gateway's API never returns the hash, and nothing here needs it. */
function record(k: z.output<typeof keySchema>): ApiKeyRecord {
  return {
    id: k.id,
    tenantId: k.tenantId,
    hash: "",
    prefix: k.prefix,
    createdAt: new Date(k.createdAt),
    ...(k.revokedAt === null ? {} : { revokedAt: new Date(k.revokedAt) }),
  };
}

export function adminApiClient(baseUrl: string, token: string): KeyAdmin {
  async function call(method: string, path: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${baseUrl}/admin${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    const body: unknown = await res.json().catch(() => undefined);
    if (res.status === 401) throw new Error(`the gateway at ${baseUrl} refused TRITGATE_ADMIN_TOKEN (401)`);
    if (res.status >= 500 || (res.status >= 400 && res.status !== 404)) {
      const parsed = errorBody.safeParse(body);
      throw new Error(`the gateway answered ${res.status}: ${parsed.success ? parsed.data.error.message : "?"}`);
    }
    return { status: res.status, body };
  }
  return {
    async listTenants() {
      return tenantList.parse((await call("GET", "/tenants")).body).data;
    },
    async createKey(tenantId) {
      const res = await call("POST", `/tenants/${encodeURIComponent(tenantId)}/keys`);
      if (res.status === 404) return undefined;
      const k = created.parse(res.body);
      return { key: k.key, record: record(k) };
    },
    async listKeys(tenantId) {
      const query = tenantId === undefined ? "" : `?tenant=${encodeURIComponent(tenantId)}`;
      return keyList.parse((await call("GET", `/keys${query}`)).body).data.map(record);
    },
    async revokeKey(keyId): Promise<KeyRevocation> {
      const before = (await this.listKeys()).find((k) => k.id === keyId);
      if (!before) return "not_found";
      if (before.revokedAt) return "already_revoked";
      const res = await call("DELETE", `/keys/${encodeURIComponent(keyId)}`);
      return res.status === 404 ? "not_found" : "revoked";
    },
  };
}
