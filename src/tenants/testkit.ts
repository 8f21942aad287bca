/** Fixtures for the tenants tests (not part of the exported surface). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TenancyConfig, TierConfig } from "./types.js";

export function tierConfig(over: Partial<TierConfig> = {}): TierConfig {
  return {
    name: "standard",
    qualityFloor: 0.5,
    ttftSlaMs: 1000,
    totalSlaMs: 5000,
    allowedVariants: ["nano-b158", "nano-fp32"],
    onOverload: "degrade",
    maxQueueWaitMs: 1000,
    priority: 1,
    strategy: "sla",
    cascadeThreshold: -1.5,
    pricePer1kInput: 0.001,
    pricePer1kOutput: 0.002,
    requestsPerMinute: 3,
    tokensPerMinute: 1000,
    monthlyTokenBudget: 0,
    maxOutputTokens: 256,
    ...over,
  };
}

export function tenancyConfig(over: Partial<TenancyConfig> = {}): TenancyConfig {
  return {
    tiers: [
      tierConfig({ name: "free", onOverload: "reject" }),
      // one tier with a response cache, so that stores that keep tiers keep that too
      tierConfig({
        name: "premium",
        onOverload: "queue",
        responseCache: { mode: "exact", ttlSeconds: 60, similarity: 0.95, billHits: false },
      }),
    ],
    tenants: [
      { id: "acme", name: "Acme", tier: "premium", keys: [] },
      { id: "hobby", name: "Hobbyist", tier: "free", keys: [] },
    ],
    ...over,
  };
}

/** Every file under `dir` with its contents (for "no plain key on disk" checks). */
export function readTree(dir: string): { path: string; text: string; mode: number }[] {
  const out: { path: string; text: string; mode: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path);
    if (s.isDirectory()) out.push(...readTree(path));
    else out.push({ path, text: readFileSync(path, "latin1"), mode: s.mode & 0o777 });
  }
  return out;
}
