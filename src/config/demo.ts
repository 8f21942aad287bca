/**
 * The demo key: on the first start with a config that names a `demoTenant`, a key is created for it,
 * its hash stored in `<stateDir>/keys.json`, and the plain key returned once for the server to print.
 * Later starts find a key of the demo tenant (in the store or the config) and return nothing.
 */
import { createKeyRecord } from "../tenants/keys.js";
import { openKeyStore } from "../tenants/store.js";
import type { GatewayConfig } from "./schema.js";

export interface DemoKey {
  readonly key: string;
  readonly keyId: string;
  readonly tenantId: string;
}

/** The demo key if one was created now; undefined when the config has no demo tenant or it already has a key. */
export function ensureDemoKey(config: GatewayConfig, stateDir: string = config.server.stateDir): DemoKey | undefined {
  const tenantId = config.demoTenant;
  if (tenantId === undefined) return undefined;
  const tenant = config.tenants.find((t) => t.id === tenantId);
  if (!tenant) throw new Error(`demo tenant "${tenantId}" is not in the config`);
  if (tenant.keys.length > 0) return undefined;
  const store = openKeyStore(stateDir);
  if (store.load().some((r) => r.tenantId === tenantId)) return undefined;
  const { key, record } = createKeyRecord(tenantId);
  store.put(record);
  return { key, keyId: record.id, tenantId };
}
