/**
 * The gateway config file's schema (zod 4), and the types the gateway reads: each is the output of a
 * schema here (`z.output`), read-only, never a hand-written twin. `gatewayConfigSchema` is the file's
 * schema with its cross references checked and its defaults derived (`*` expanded, families filled
 * in); `parse.ts` adds where each mistake is, resolves relative paths and notes the source file.
 * Every message says what was expected.
 */
import { z } from "zod";
import type { TierConfig } from "../tenants/types.js";

/** A parsed value as the gateway holds it: nothing in a config is changed after loading. */
type Settled<T> = T extends Date
  ? T
  : T extends readonly (infer U)[]
    ? readonly Settled<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Settled<T[K]> }
      : T;

// ── field types with readable expectations ─────────────────────────────────────────────────────────────

function number(expected: string) {
  return z.number({ error: `expected ${expected}` });
}
const positive = () => number("a positive number").positive({ error: "expected a positive number" });
const nonNegative = () => number("a number ≥ 0").min(0, { error: "expected a number ≥ 0" });
const positiveInt = () =>
  number("a positive integer")
    .int({ error: "expected a positive integer" })
    .positive({ error: "expected a positive integer" });
const nonNegativeInt = () =>
  number("an integer ≥ 0").int({ error: "expected an integer ≥ 0" }).min(0, { error: "expected an integer ≥ 0" });
const fraction = () =>
  number("a number between 0 and 1")
    .min(0, { error: "expected a number between 0 and 1" })
    .max(1, { error: "expected a number between 0 and 1" });
const text = () => z.string({ error: "expected a string" }).min(1, { error: "expected a non-empty string" });
const identifier = () =>
  z
    .string({ error: "expected a name" })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: "expected a name of letters, digits, '.', '_' or '-'" });
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}` });
}
function list<T extends z.ZodType>(item: T, what: string) {
  return z.array(item, { error: `expected a list of ${what}` });
}
const isoDate = () =>
  z
    .string({ error: "expected an ISO 8601 date string" })
    .refine((s) => !Number.isNaN(Date.parse(s)), { error: "expected an ISO 8601 date string" })
    .transform((s) => new Date(s));
const mapping = { error: "expected a mapping" };

// ── sections ───────────────────────────────────────────────────────────────────────────────────────────

export const ALL_VARIANTS = "*";

const portNumber = () =>
  number("a port number (0–65535)")
    .int({ error: "expected a port number (0–65535)" })
    .min(0, { error: "expected a port number (0–65535)" })
    .max(65535, { error: "expected a port number (0–65535)" });

/**
 * Where `/metrics`, `/ui`, `/dashboards` and `/admin` are served. With a `port` they move off the API
 * listener to one of their own (on `host`, default loopback), so they can stay off the public address;
 * with a `token`, `/metrics`, `/ui` and `/dashboards` need it (Bearer, or Basic with it as password, for
 * browsers). `/admin` always needs `server.adminToken`.
 */
const observabilitySchema = z.strictObject(
  {
    host: text().optional(),
    port: portNumber().optional(),
    token: z
      .string({ error: "expected a string" })
      .min(16, { error: "expected at least 16 characters (a token must be hard to guess)" })
      .optional(),
  },
  mapping,
);

const serverSchema = z
  .strictObject(
    {
      host: text().default("127.0.0.1"),
      port: portNumber().default(8080),
      bodyLimitBytes: positiveInt().default(1_048_576),
      /** on SIGTERM, how long requests in flight may take to finish before their connections are cut */
      drainTimeoutMs: positiveInt().default(10_000),
      adminToken: z
        .string({ error: "expected a string" })
        .min(16, { error: "expected at least 16 characters (an admin token must be hard to guess)" })
        .optional(),
      stateDir: text().default("data"),
      observability: observabilitySchema.optional(),
    },
    mapping,
  )
  .prefault({});

/** A tier's response cache (off unless the tier says so): exact answers to deterministic requests, per tenant. */
const tierCacheSchema = z
  .strictObject(
    {
      mode: oneOf(["off", "exact", "semantic"]).default("off"),
      ttlSeconds: positive().default(300),
      /** semantic mode: the least cosine similarity between two last user messages that counts as a match */
      similarity: fraction().default(0.95),
      /** whether a hit's tokens are priced and count against the limits (its usage reports them either way) */
      billHits: z.boolean({ error: "expected true or false" }).default(true),
    },
    mapping,
  )
  .prefault({});

/** The one memory bound of the response cache, shared by every tier (least recently used entries go first). */
const cacheSchema = z
  .strictObject(
    {
      maxBytes: nonNegativeInt().default(64 * 1024 * 1024),
      /** the BitNet variant whose token embeddings the semantic mode compares messages with */
      embeddingVariant: identifier().optional(),
    },
    mapping,
  )
  .prefault({});

/** A tier as the config writes it (also what the admin API accepts). */
export const tierSchema = z.strictObject(
  {
    name: identifier(),
    qualityFloor: fraction(),
    ttftSlaMs: positive(),
    totalSlaMs: positive(),
    allowedVariants: z
      .union([z.literal(ALL_VARIANTS), list(identifier(), "variant names")], {
        error: `expected a list of variant names or "${ALL_VARIANTS}"`,
      })
      .default(ALL_VARIANTS),
    onOverload: oneOf(["degrade", "queue", "reject"]),
    maxQueueWaitMs: nonNegative().default(0),
    priority: number("an integer").int({ error: "expected an integer" }).default(0),
    strategy: oneOf(["sla", "cheapest", "quality", "cascade"]).default("sla"),
    cascadeThreshold: number("a mean log-probability (≤ 0)")
      .max(0, { error: "expected a mean log-probability (≤ 0)" })
      .default(-1.5),
    pricePer1kInput: nonNegative().default(0),
    pricePer1kOutput: nonNegative().default(0),
    requestsPerMinute: positiveInt(),
    tokensPerMinute: positiveInt(),
    monthlyTokenBudget: nonNegativeInt().default(0),
    maxOutputTokens: positiveInt(),
    responseCache: tierCacheSchema,
  },
  mapping,
);

const keySchema = z.strictObject(
  {
    id: identifier(),
    hash: z
      .string({ error: "expected a hex SHA-256 hash" })
      .regex(/^[0-9a-f]{64}$/, { error: "expected a hex SHA-256 hash (64 lower-case hex digits)" }),
    prefix: z
      .string({ error: "expected a key prefix" })
      .regex(/^tg-[A-Za-z0-9_-]{0,6}$/, { error: 'expected a key prefix ("tg-" and up to 6 characters)' }),
    createdAt: isoDate(),
    revokedAt: isoDate().optional(),
  },
  mapping,
);

/** A tenant as the config writes it (the admin API accepts it without `keys`). */
export const tenantSchema = z.strictObject(
  {
    id: identifier(),
    name: text(),
    tier: identifier(),
    keys: list(keySchema, "keys").default([]),
  },
  mapping,
);

/** The card figures written in the config: tokens/s on the reference machine, seeds until the measured
 * card.json beside the model or live rates replace them. Extra card fields are kept. */
const inlineCardSchema = z.looseObject(
  {
    prefillTokensPerSecond: positive(),
    decodeTokensPerSecond: positive(),
  },
  mapping,
);

const variantSchema = z.strictObject(
  {
    name: identifier(),
    family: identifier(),
    engine: oneOf(["bitnet", "onnx"]),
    /** Model file (.gguf for bitnet, .onnx for onnx); it may not exist yet (the server reports the variant not ready). */
    path: text(),
    /** q = ppl_reference / ppl_variant when known (measured by `tritgate eval`; a config value overrides). */
    quality: number("a quality between 0 and 1")
      .positive({ error: "expected a quality in (0, 1]" })
      .max(1, { error: "expected a quality in (0, 1]" })
      .optional(),
    card: inlineCardSchema,
    /**
     * Requests served concurrently. Default: 8 for bitnet (its worker batches them into one forward step,
     * so more slots raise throughput), 1 for onnx.
     */
    slots: positiveInt().optional(),
    /**
     * Copies of the model, each on its own worker thread with `slots` of its own; a request goes to the
     * least busy. For models too small to get faster with more kernel threads (nano): busy instances
     * compute on separate cores at once (the CPU budget gives each one core once the others are busy).
     * Each loads its own weights. Default 1.
     */
    instances: positiveInt().optional(),
    /**
     * Tokens one batched step runs at most (bitnet): every running decode, then prompt chunks in what is
     * left, so a long prompt is split across steps instead of stalling the others' decode. Keep it above
     * `slots`, or prompts wait for decodes to finish. Unset: the pool's DEFAULT_STEP_TOKEN_BUDGET (256).
     */
    stepTokenBudget: positiveInt().optional(),
    /**
     * KV-cache positions the variant's running requests may reserve at once (each reserves prompt +
     * max_tokens, capped at the context). Default: slots full contexts, capped at a quarter of the
     * machine's memory, never below one context. A request that can never fit is refused with 400.
     */
    kvTokenBudget: positiveInt().optional(),
    /**
     * What a bitnet variant's KV cache stores: "f16" (the default, as llama.cpp's `--cache-type-k/v`)
     * halves its memory, so the default KV budget holds twice the positions, and the bytes attention
     * reads; "f32" keeps every key and value exactly (the engine's own default, what its reference
     * tests use). Attention computes in fp32 either way. Ignored by onnx variants.
     */
    kvCacheType: z.enum(["f32", "f16"]).default("f16"),
    /**
     * How long a request may wait for KV budget before it is refused (429 with retry-after, as a full queue is). Unset: the
     * pool's DEFAULT_MAX_KV_WAIT_MS (10 s).
     */
    maxKvWaitMs: nonNegative().optional(),
    /**
     * Unload the model after this many ms with nothing running or queued; the next request waits while
     * it loads again. Unset: the top-level `idleUnloadMs`; null: never, whatever that says.
     */
    idleUnloadMs: positiveInt().nullable().optional(),
    /** What we pay for a core-hour of the machine: a request's cost is its core-seconds at this price. */
    pricePerCoreHour: nonNegative(),
    wattsPerCore: nonNegative(),
    /** Cores one request keeps busy. */
    coresPerRequest: positive().default(1),
  },
  mapping,
);

const familySchema = z.strictObject(
  {
    name: identifier(),
    /** The family's reference (full-precision) variant: quality 1, and the cost counterfactual. */
    reference: identifier(),
  },
  mapping,
);

/** Canary rollout bounds (`tritgate variants canary`): a canary worse than these over its window is rolled back. */
const canarySchema = z
  .strictObject(
    {
      /** attempts the canary's window must hold before it is judged (N) */
      minRequests: positiveInt().default(50),
      /** attempts each version's sliding window keeps (at least minRequests) */
      windowRequests: positiveInt().default(200),
      /** a lower success rate over the window rolls the canary back */
      minSuccessRate: fraction().default(0.99),
      /** a canary p95 above this multiple of the stable version's rolls it back */
      maxP95Ratio: number("a ratio ≥ 1").min(1, { error: "expected a ratio ≥ 1" }).default(1.5),
      /** promote once the canary has served this many attempts within bounds; null: promote only by hand */
      promoteAfterRequests: positiveInt().nullable().default(200),
    },
    mapping,
  )
  .prefault({});

/**
 * Keys earlier configs spelled differently, and what became of them: named in the error a file that
 * still uses one gets (they are not read: one spelling per quantity).
 */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  prefillTokensPerS: 'renamed "prefillTokensPerSecond"',
  decodeTokensPerS: 'renamed "decodeTokensPerSecond"',
  costPerCoreHour: 'renamed "pricePerCoreHour"',
  defaultFamily: 'removed: model "auto" routes within the family of the tier\'s first allowed variant',
};

/** What a config file may say. */
export const configFileSchema = z.strictObject(
  {
    server: serverSchema,
    tiers: list(tierSchema, "tiers").min(1, { error: "expected at least one tier" }),
    tenants: list(tenantSchema, "tenants").default([]),
    variants: list(variantSchema, "variants").min(1, { error: "expected at least one variant" }),
    families: list(familySchema, "families").optional(),
    /** The tenant `ensureDemoKey` creates a key for on first start (none when unset). */
    demoTenant: identifier().optional(),
    canary: canarySchema,
    /**
     * The CPU budget, in cores, that every engine of the process shares (default: physical cores, or
     * TRITGATE_THREADS): the kernels' pool has this many threads and runs each step on the cores the
     * ONNX variants leave; an ONNX variant's intra-op threads are half of it when the process also
     * serves BitNet variants, else all of it (`engineThreads`).
     */
    threads: positiveInt().optional(),
    /** Every variant's idle unload time in ms unless it sets its own; null (the default): never unload. */
    idleUnloadMs: positiveInt().nullable().default(null),
    /**
     * Variants share the `threads` cores as one budget, so engines never run more busy threads than
     * cores: an ONNX variant holds its threads' cores while it has generations running, the kernels'
     * pool takes the rest for each step (all of them when no ONNX variant is busy); engines that cannot
     * fit together take turns (default true; false: each engine runs its threads regardless).
     */
    cpuTurns: z.boolean({ error: "expected true or false" }).default(true),
    responseCache: cacheSchema,
  },
  mapping,
);

export type ConfigFile = z.output<typeof configFileSchema>;

// ── cross references ───────────────────────────────────────────────────────────────────────────────────

interface CrossIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

function names(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

function duplicates<T>(
  items: readonly T[],
  key: (item: T) => string,
  at: (i: number) => (string | number)[],
  what: string,
): CrossIssue[] {
  const seen = new Set<string>();
  const out: CrossIssue[] = [];
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) out.push({ path: at(i), message: `duplicate ${what} ${JSON.stringify(k)}` });
    seen.add(k);
  });
  return out;
}

/** What the schema alone cannot see: names that must exist, be unique, or agree. */
function crossCheck(raw: ConfigFile): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const tierNames = raw.tiers.map((t) => t.name);
  const variantNames = raw.variants.map((v) => v.name);
  const familyNames = [...new Set(raw.variants.map((v) => v.family))];
  issues.push(
    ...duplicates(
      raw.tiers,
      (t) => t.name,
      (i) => ["tiers", i, "name"],
      "tier",
    ),
  );
  issues.push(
    ...duplicates(
      raw.variants,
      (v) => v.name,
      (i) => ["variants", i, "name"],
      "variant",
    ),
  );
  issues.push(
    ...duplicates(
      raw.tenants,
      (t) => t.id,
      (i) => ["tenants", i, "id"],
      "tenant id",
    ),
  );
  const keys = raw.tenants.flatMap((t, i) => t.keys.map((k, j) => ({ k, at: ["tenants", i, "keys", j] })));
  issues.push(
    ...duplicates(
      keys,
      (e) => e.k.id,
      (i) => [...(keys[i]?.at ?? []), "id"],
      "key id",
    ),
  );
  issues.push(
    ...duplicates(
      keys,
      (e) => e.k.hash,
      (i) => [...(keys[i]?.at ?? []), "hash"],
      "key hash",
    ),
  );

  raw.tiers.forEach((tier, i) => {
    if (tier.totalSlaMs < tier.ttftSlaMs)
      issues.push({
        path: ["tiers", i, "totalSlaMs"],
        message: `expected at least ttftSlaMs (${tier.ttftSlaMs}), got ${tier.totalSlaMs}`,
      });
    if (Array.isArray(tier.allowedVariants))
      tier.allowedVariants.forEach((name, j) => {
        if (!variantNames.includes(name))
          issues.push({
            path: ["tiers", i, "allowedVariants", j],
            message: `unknown variant ${JSON.stringify(name)} (variants: ${names(variantNames)})`,
          });
      });
  });
  raw.tenants.forEach((tenant, i) => {
    if (!tierNames.includes(tenant.tier))
      issues.push({
        path: ["tenants", i, "tier"],
        message: `unknown tier ${JSON.stringify(tenant.tier)} (tiers: ${names(tierNames)})`,
      });
  });
  raw.families?.forEach((family, i) => {
    if (!familyNames.includes(family.name))
      issues.push({
        path: ["families", i, "name"],
        message: `no variant belongs to family ${JSON.stringify(family.name)}`,
      });
    const ref = raw.variants.find((v) => v.name === family.reference);
    if (!ref || ref.family !== family.name)
      issues.push({
        path: ["families", i, "reference"],
        message: `expected a variant of family ${JSON.stringify(family.name)}, got ${JSON.stringify(family.reference)}`,
      });
  });
  const observability = raw.server.observability;
  if (observability?.host !== undefined && observability.port === undefined)
    issues.push({
      path: ["server", "observability", "host"],
      message: "expected server.observability.port too (the host of a listener of their own needs its port)",
    });
  const semanticTiers = raw.tiers.filter((t) => t.responseCache.mode === "semantic");
  const embedding = raw.responseCache.embeddingVariant;
  if (embedding === undefined && semanticTiers.length > 0)
    issues.push({
      path: ["responseCache", "embeddingVariant"],
      message: `expected the BitNet variant whose token embeddings the semantic cache uses (tier ${JSON.stringify(semanticTiers[0]?.name)} is semantic)`,
    });
  if (embedding !== undefined && raw.variants.find((v) => v.name === embedding)?.engine !== "bitnet")
    issues.push({
      path: ["responseCache", "embeddingVariant"],
      message: `expected a bitnet variant, got ${JSON.stringify(embedding)} (bitnet variants: ${names(raw.variants.filter((v) => v.engine === "bitnet").map((v) => v.name))})`,
    });
  if (raw.canary.windowRequests < raw.canary.minRequests)
    issues.push({
      path: ["canary", "windowRequests"],
      message: `expected at least minRequests (${raw.canary.minRequests}), got ${raw.canary.windowRequests}`,
    });
  if (raw.demoTenant !== undefined && !raw.tenants.some((t) => t.id === raw.demoTenant))
    issues.push({ path: ["demoTenant"], message: `unknown tenant ${JSON.stringify(raw.demoTenant)}` });
  return issues;
}

/** A variant's slots when the config names none: a batching engine gains from several at once. */
const DEFAULT_SLOTS = { bitnet: 8, onnx: 1 } as const;

/** The checked file with its defaults derived: `*` expanded, families (and their references) filled in, slots per engine. */
function derive(raw: ConfigFile) {
  const variantNames = raw.variants.map((v) => v.name);
  const familyNames = [...new Set(raw.variants.map((v) => v.family))];
  const families =
    raw.families ??
    familyNames.map((name) => {
      const members = raw.variants.filter((v) => v.family === name);
      // the reference: the best stated quality, else the full-precision (onnx) variant, else the first
      const best = [...members].sort((a, b) => (b.quality ?? 0) - (a.quality ?? 0))[0];
      const reference =
        best?.quality !== undefined ? best : (members.find((v) => v.engine === "onnx") ?? members[0] ?? best);
      return { name, reference: reference?.name ?? name };
    });
  return {
    ...raw,
    variants: raw.variants.map((v) => ({ ...v, slots: v.slots ?? DEFAULT_SLOTS[v.engine] })),
    // annotated with the tenancy contract, so a tier field the schema lacks is a compile error here
    tiers: raw.tiers.map(
      (t): TierConfig => ({
        ...t,
        allowedVariants: t.allowedVariants === ALL_VARIANTS ? [...variantNames] : t.allowedVariants,
      }),
    ),
    families,
  };
}

/** Marks a cross-reference issue among zod's. */
export const CROSS = { reference: true } as const;

/**
 * The config file's schema checked and finished: cross references (reported as `reference` issues, so
 * their messages are kept as written) and derived defaults. A file with schema issues never reaches
 * the cross check (a pipe stops at the first failing stage).
 */
export const gatewayConfigSchema = configFileSchema.transform((raw, ctx) => {
  for (const issue of crossCheck(raw))
    ctx.issues.push({ code: "custom", input: raw, path: [...issue.path], message: issue.message, params: CROSS });
  return derive(raw);
});

/** The gateway config, as loaded. */
export type GatewayConfig = Settled<z.output<typeof gatewayConfigSchema>> & {
  /** The file the config came from, or `<defaults>`. */
  readonly source: string;
};
export type ServerConfig = GatewayConfig["server"];
export type TenantConfig = GatewayConfig["tenants"][number];
export type KeyConfig = TenantConfig["keys"][number];
/** A variant as the config file describes it (the server's `VariantProfile` is what the router sees of it). */
export type VariantConfig = GatewayConfig["variants"][number];
export type InlineCard = VariantConfig["card"];
export type FamilyConfig = GatewayConfig["families"][number];
export type ResponseCacheConfig = GatewayConfig["responseCache"];
export type CanaryConfig = GatewayConfig["canary"];
