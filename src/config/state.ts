/** Where run-time state (the embedded database, its journal, `gateway.json`) lives. */
import type { GatewayConfig } from "./schema.js";

/** An explicit directory, else `TRITGATE_STATE_DIR`, else the config's `server.stateDir` (default `data`). */
export function resolveStateDir(
  config: GatewayConfig,
  override?: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (override !== undefined && override !== "") return override;
  const fromEnv = env.TRITGATE_STATE_DIR;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return config.server.stateDir;
}
