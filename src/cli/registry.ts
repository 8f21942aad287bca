/**
 * What `serve` and `variants` share about the model registry: the config's variants as registry seeds.
 * (Where a running gateway's admin API is: `running-gateway.ts`.)
 */
import type { GatewayConfig } from "../config/index.js";
import { hashModelFile } from "../db/model-file.js";
import type { Database } from "../db/open.js";
import { listVersions, seedRegistry, type VariantSeed } from "../db/registry.js";
import { modelCardPath, readModelCardFile } from "../formats/card/index.js";

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
