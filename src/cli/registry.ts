/**
 * What `serve` and `variants` share about the model registry: the config's variants as registry
 * seeds, and the state directory's `gateway.json` through which a running gateway says where its
 * admin API is (PGlite is one process's database: while a gateway holds it, the CLI goes through
 * that gateway instead of opening the files itself).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { GatewayConfig } from "../config/index.js";
import { hashModelFile } from "../db/model-file.js";
import type { Database } from "../db/open.js";
import { listVersions, seedRegistry, type VariantSeed } from "../db/registry.js";
import { modelCardPath, readModelCardFile } from "../formats/card/index.js";
import { writeFileAtomic } from "../util/write-file-atomic.js";

/** The version a variant's first registry row gets when its card names none. */
export const FIRST_VERSION = "1";

/**
 * A seed per configured variant whose file can be read (one that cannot is not servable either and
 * is seeded on a later start). The version is the card's `version` when it has one, else "1".
 */
export async function variantSeeds(
  config: GatewayConfig,
  log: (line: string) => void,
  /** names the registry knows already: their files are not hashed again */
  known: ReadonlySet<string> = new Set(),
): Promise<VariantSeed[]> {
  const seeds: VariantSeed[] = [];
  for (const v of config.variants) {
    if (known.has(v.name)) continue;
    let fileSha256: string;
    try {
      fileSha256 = await hashModelFile(v.path);
    } catch (e) {
      log(`variant ${v.name}: not in the registry yet (${(e as Error).message})`);
      continue;
    }
    let card: Record<string, unknown> | undefined;
    try {
      card = readModelCardFile(modelCardPath(v.path));
    } catch {
      card = undefined; // serve already reports an unreadable card
    }
    const version = typeof card?.version === "string" && card.version !== "" ? card.version : FIRST_VERSION;
    const quality = (card?.quality as { quality?: unknown } | undefined)?.quality;
    seeds.push({
      family: v.family,
      name: v.name,
      version,
      engine: v.engine,
      path: v.path,
      fileSha256,
      card: { ...v.card, ...pick(card, ["prefillTokensPerSecond", "decodeTokensPerSecond", "bytesOnDisk"]) },
      measuredQuality: v.quality ?? (typeof quality === "number" ? quality : null),
    });
  }
  return seeds;
}

/** Seeds the registry with the configured variants it does not know yet; returns the names added. */
export async function seedFromConfig(
  database: Database,
  config: GatewayConfig,
  log: (line: string) => void,
): Promise<string[]> {
  const known = new Set((await listVersions(database)).map((r) => r.name));
  return seedRegistry(database, await variantSeeds(config, log, known));
}

function pick(from: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (from?.[k] !== undefined) out[k] = from[k];
  return out;
}

/** What a running gateway writes into its state directory. */
export interface RunningGateway {
  readonly pid: number;
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
}

const GATEWAY_FILE = "gateway.json";

export function announceGateway(stateDir: string, gateway: RunningGateway): Promise<void> {
  return writeFileAtomic(join(stateDir, GATEWAY_FILE), `${JSON.stringify(gateway)}\n`);
}

export function withdrawGateway(stateDir: string): void {
  rmSync(join(stateDir, GATEWAY_FILE), { force: true });
}

/** The gateway serving from this state directory, when its process is alive; a stale file is ignored. */
export function runningGateway(stateDir: string): RunningGateway | undefined {
  const path = join(stateDir, GATEWAY_FILE);
  if (!existsSync(path)) return undefined;
  let parsed: Partial<RunningGateway>;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<RunningGateway>;
  } catch {
    return undefined;
  }
  if (typeof parsed.pid !== "number" || typeof parsed.url !== "string") return undefined;
  try {
    process.kill(parsed.pid, 0);
  } catch (e) {
    // EPERM: alive, another user's
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  return { pid: parsed.pid, url: parsed.url };
}
