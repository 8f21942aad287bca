/**
 * Test doubles written against the tenants contract (a Map of sha256(key) → principal and a
 * counting limiter), tiers for the routing scenarios, and a gateway over the two tiny variants of
 * family "tiny" on real worker threads, listening on loopback. Not exported from the package.
 */
import { hash, randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { tinyFamily } from "../../test/helpers/tiny-family.js";
import { readModelCard } from "../config/card.js";
import { defaultConfig, variantCost } from "../config/index.js";
import { startVariantWorker, type VariantWorker, type VariantWorkerOptions } from "../engines/pool/index.js";
import {
  type ApiKeyRecord,
  createMemoryRateLimiter,
  type LimitDecision,
  type Principal,
  type RateLimiter,
  type Tenant,
  type TenantDirectory,
  type TierConfig,
} from "../tenants/index.js";
import { createGateway, type GatewayApp } from "./app.js";
import { createLogger, type Logger } from "./log.js";
import type { MemoryRecorder } from "./recorder.js";
import { type RunningServer, startServer } from "./serve.js";
import type { AppDeps, ServedVariant, VariantProfile, VariantRuntime } from "./types.js";

const sha256 = (s: string) => hash("sha256", s, "hex");

export function tierConfig(over: Partial<TierConfig> & { name: string }): TierConfig {
  return {
    qualityFloor: 0,
    ttftSlaMs: 30_000,
    totalSlaMs: 60_000,
    allowedVariants: ["tiny-b158", "tiny-fp32"],
    onOverload: "degrade",
    maxQueueWaitMs: 10_000,
    priority: 1,
    strategy: "sla",
    cascadeThreshold: -3,
    pricePer1kInput: 0.001,
    pricePer1kOutput: 0.002,
    requestsPerMinute: 10_000,
    tokensPerMinute: 10_000_000,
    monthlyTokenBudget: 0,
    maxOutputTokens: 128,
    ...over,
  };
}

export const TEST_TIERS = {
  standard: tierConfig({ name: "standard" }),
  /** its floor only the fp32 reference meets */
  premium: tierConfig({ name: "premium", qualityFloor: 0.95, priority: 5 }),
  /** ternary only */
  free: tierConfig({ name: "free", allowedVariants: ["tiny-b158"], onOverload: "reject", priority: 0 }),
  /** fp32-grade quality; waits in a queue rather than degrade */
  patient: tierConfig({ name: "patient", qualityFloor: 0.95, onOverload: "queue", maxQueueWaitMs: 120_000 }),
  /** cascade: answer on ternary, escalate to fp32 when unsure (threshold 0: always, as logprobs are < 0) */
  cascade: tierConfig({ name: "cascade", strategy: "cascade", cascadeThreshold: 0 }),
  /** cascade that never escalates (every mean log-probability is above −1000) */
  confident: tierConfig({ name: "confident", strategy: "cascade", cascadeThreshold: -1000 }),
  /** two requests a minute */
  limited: tierConfig({ name: "limited", requestsPerMinute: 2 }),
} as const;

/** A TenantDirectory over a Map of sha256(key) → principal. */
export class MapDirectory implements TenantDirectory {
  private readonly byHash = new Map<string, Principal>();
  private readonly records = new Map<string, ApiKeyRecord>();
  private readonly tenantList: Tenant[] = [];
  private readonly tierMap: Map<string, TierConfig>;

  constructor(tiers: readonly TierConfig[]) {
    this.tierMap = new Map(tiers.map((t) => [t.name, t]));
  }

  addTenant(id: string, tierName: string): string {
    const tenant: Tenant = { id, name: id, tier: tierName };
    this.tenantList.push(tenant);
    return this.createKey(id).key;
  }

  authenticate(key: string): Principal | undefined {
    return this.byHash.get(sha256(key));
  }

  tier(name: string): TierConfig | undefined {
    return this.tierMap.get(name);
  }

  tiers(): readonly TierConfig[] {
    return [...this.tierMap.values()];
  }

  tenants(): readonly Tenant[] {
    return this.tenantList;
  }

  createKey(tenantId: string): { key: string; record: ApiKeyRecord } {
    const tenant = this.tenantList.find((t) => t.id === tenantId);
    const tier = tenant && this.tierMap.get(tenant.tier);
    if (!tenant || !tier) throw new Error(`unknown tenant ${tenantId}`);
    const key = `tg-${randomBytes(16).toString("hex")}`;
    const record: ApiKeyRecord = {
      id: `key_${this.records.size + 1}`,
      tenantId,
      hash: sha256(key),
      prefix: key.slice(0, 9),
      createdAt: new Date(0),
    };
    this.records.set(record.id, record);
    this.byHash.set(record.hash, { tenant, tier, keyId: record.id });
    return { key, record };
  }

  revokeKey(keyId: string): boolean {
    const record = this.records.get(keyId);
    if (!record) return false;
    return this.byHash.delete(record.hash);
  }
}

/** Requests per minute per tenant in a fixed window; tokens are only counted. */
export class CountingLimiter implements RateLimiter {
  readonly requests = new Map<string, { windowStart: number; count: number }>();
  readonly settled: { tenant: string; estimated: number; actual: number }[] = [];

  async admit(tenantId: string, tier: TierConfig, estimatedTokens: number, now: number): Promise<LimitDecision> {
    const entry = this.requests.get(tenantId);
    const window = entry && now - entry.windowStart < 60_000 ? entry : { windowStart: now, count: 0 };
    const resetSeconds = Math.ceil((window.windowStart + 60_000 - now) / 1000);
    const allowed = window.count < tier.requestsPerMinute;
    if (allowed) window.count++;
    this.requests.set(tenantId, window);
    return {
      allowed,
      ...(allowed ? {} : { reason: "requests_per_minute" as const, retryAfterSeconds: resetSeconds }),
      limitRequests: tier.requestsPerMinute,
      remainingRequests: Math.max(0, tier.requestsPerMinute - window.count),
      limitTokens: tier.tokensPerMinute,
      remainingTokens: Math.max(0, tier.tokensPerMinute - estimatedTokens),
      resetRequestsSeconds: resetSeconds,
      resetTokensSeconds: resetSeconds,
    };
  }

  async settle(tenantId: string, _tier: TierConfig, estimated: number, actual: number): Promise<void> {
    this.settled.push({ tenant: tenantId, estimated, actual });
  }

  async close(): Promise<void> {}
}

export const TINY_CONFIGS: readonly VariantProfile[] = [
  {
    name: "tiny-b158",
    family: "tiny",
    engine: "bitnet",
    quality: 0.8,
    card: { prefillTokensPerSecond: 2000, decodeTokensPerSecond: 200 },
    cost: { pricePerCoreHour: 0.05, wattsPerCore: 10, coresPerRequest: 1 },
  },
  {
    name: "tiny-fp32",
    family: "tiny",
    engine: "onnx",
    quality: 1,
    card: { prefillTokensPerSecond: 500, decodeTokensPerSecond: 50 },
    cost: { pricePerCoreHour: 0.05, wattsPerCore: 10, coresPerRequest: 2 },
  },
];

/** Starts both tiny variants on worker threads (slots 2 each). */
export async function startTinyWorkers(): Promise<Record<"tiny-b158" | "tiny-fp32", VariantWorker>> {
  const family = await tinyFamily();
  const b158 = startVariantWorker({ name: "tiny-b158", path: family.gguf, threads: 1, slots: 2 });
  const fp32 = startVariantWorker({ name: "tiny-fp32", path: family.onnx, threads: 1, slots: 2 });
  await Promise.all([b158.ready, fp32.ready]);
  return { "tiny-b158": b158, "tiny-fp32": fp32 };
}

export interface TestGateway extends GatewayApp {
  readonly server: RunningServer;
  readonly baseURL: string;
  readonly keys: Record<keyof typeof TEST_TIERS, string>;
  readonly directory: MapDirectory;
  readonly limiter: CountingLimiter;
  readonly memory: MemoryRecorder;
  close(): Promise<void>;
}

export const ADMIN_TOKEN = "admin-secret-token";

/** A gateway over the given served variants, on 127.0.0.1:0. */
export async function startTestGateway(
  variants: readonly ServedVariant[],
  over: Partial<AppDeps> = {},
): Promise<TestGateway> {
  const directory = new MapDirectory(Object.values(TEST_TIERS));
  const keys = {
    standard: directory.addTenant("acme", "standard"),
    premium: directory.addTenant("globex", "premium"),
    free: directory.addTenant("hobbyist", "free"),
    limited: directory.addTenant("throttled", "limited"),
    patient: directory.addTenant("initech", "patient"),
    cascade: directory.addTenant("umbrella", "cascade"),
    confident: directory.addTenant("cyberdyne", "confident"),
  };
  const limiter = new CountingLimiter();
  // rates stay at the card figures (alpha ≈ 0), so routing does not depend on how fast this machine is
  const parts = createGateway({ directory, limiter, variants, adminToken: ADMIN_TOKEN, rateAlpha: 1e-9, ...over });
  const server = await startServer(parts.app, { host: "127.0.0.1", port: 0, ...(over.log ? { log: over.log } : {}) });
  return {
    ...parts,
    server,
    baseURL: `${server.url}/v1`,
    keys,
    directory,
    limiter,
    memory: parts.recorder as MemoryRecorder,
    close: async () => {
      await server.close();
    },
  };
}

export function served(workers: Record<string, VariantWorker>): ServedVariant[] {
  return TINY_CONFIGS.map((config) => ({ config, worker: workers[config.name]! }));
}

const ROOT = join(import.meta.dirname, "../..");

export interface NanoGateway extends GatewayApp {
  readonly server: RunningServer;
  readonly baseURL: string;
  /** one tenant per tier of the embedded config: free, standard, premium */
  readonly keys: Record<string, string>;
  readonly workers: readonly VariantWorker[];
  close(): Promise<void>;
}

/**
 * The committed nano family (models/nano) on worker threads with the embedded config's tiers and the
 * in-memory rate limiter: the gateway as `tritgate serve` runs it, on 127.0.0.1:0.
 */
/** Worker options a test sets for one variant (a KV budget, a step budget), beside the config's. */
export type WorkerOverrides = (variant: string) => Partial<VariantWorkerOptions>;

/**
 * The committed nano family (models/nano) on worker threads, ready, as the gateway's variants (the
 * embedded config's figures and the cards' measured quality); `wrap` may stand in for a worker.
 */
export async function startNanoVariants(
  wrap: (worker: VariantWorker, engine: string) => VariantRuntime = (w) => w,
  overrides: WorkerOverrides = () => ({}),
) {
  const config = defaultConfig();
  const workers = config.variants.map((v) =>
    startVariantWorker({ name: v.name, path: join(ROOT, v.path), threads: 1, slots: v.slots, ...overrides(v.name) }),
  );
  await Promise.all(workers.map((w) => w.ready));
  const variants: ServedVariant[] = config.variants.map((v, i) => {
    const quality = readModelCard(join(ROOT, v.path))?.quality;
    if (quality === undefined) throw new Error(`${v.path}: its card states no quality`);
    return {
      config: {
        name: v.name,
        family: v.family,
        engine: v.engine,
        quality,
        card: {
          prefillTokensPerSecond: v.card.prefillTokensPerSecond,
          decodeTokensPerSecond: v.card.decodeTokensPerSecond,
        },
        cost: variantCost(v),
        modelBytes: statSync(join(ROOT, v.path)).size,
      },
      worker: wrap(workers[i] as VariantWorker, v.engine),
    };
  });
  return { config, workers, variants };
}

export async function startNanoGateway(
  over: Partial<AppDeps> = {},
  wrap?: Parameters<typeof startNanoVariants>[0],
  overrides?: WorkerOverrides,
): Promise<NanoGateway> {
  const { config, workers, variants } = await startNanoVariants(wrap, overrides);
  const directory = new MapDirectory(config.tiers);
  const keys = Object.fromEntries(config.tiers.map((t) => [t.name, directory.addTenant(`tenant-${t.name}`, t.name)]));
  const limiter = createMemoryRateLimiter();
  const parts = createGateway({ directory, limiter, variants, rateAlpha: 1e-9, ...over });
  const server = await startServer(parts.app, { host: "127.0.0.1", port: 0, ...(over.log ? { log: over.log } : {}) });
  return {
    ...parts,
    server,
    baseURL: `${server.url}/v1`,
    keys,
    workers,
    close: async () => {
      await server.close();
      await limiter.close();
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

/** A logger that keeps its lines, for tests that read what was logged. */
export function memoryLog(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, ...createLogger("debug", (line) => lines.push(line)) };
}
