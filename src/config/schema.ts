/**
 * The gateway config file's schema (zod 4) and the `GatewayConfig` it produces.
 * Every message says what was expected; the parser (`parse.ts`) adds where and what was found.
 */
import { z } from "zod";
import type { EngineKind } from "../../router/index.js";
import type { TierConfig } from "../tenants/types.js";

// ── the parsed config ──────────────────────────────────────────────────────────────────────────────────

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  /** Bearer token for the admin API; the admin API is disabled without one. */
  readonly adminToken?: string | undefined;
  /** Where run-time state lives (`keys.json`, the embedded database); relative to the config file. */
  readonly stateDir: string;
}

export interface KeyConfig {
  readonly id: string;
  readonly hash: string;
  readonly prefix: string;
  readonly createdAt: Date;
  readonly revokedAt?: Date | undefined;
}

export interface TenantConfig {
  readonly id: string;
  readonly name: string;
  readonly tier: string;
  readonly keys: readonly KeyConfig[];
}

/** A variant's model card figures (tokens/s measured on the reference machine); extra card fields are kept. */
export interface VariantCard {
  readonly prefillTokensPerS: number;
  readonly decodeTokensPerS: number;
  readonly [field: string]: unknown;
}

export interface VariantConfig {
  readonly name: string;
  readonly family: string;
  readonly engine: EngineKind;
  /** Model file (.gguf for bitnet, .onnx for onnx); it may not exist yet (the server reports the variant not ready). */
  readonly path: string;
  /** q = ppl_reference / ppl_variant when known (measured by `tritgate eval`; a config value overrides). */
  readonly quality?: number | undefined;
  readonly card: VariantCard;
  /** Requests served concurrently. */
  readonly slots: number;
  readonly costPerCoreHour: number;
  readonly wattsPerCore: number;
  /** Cores one request keeps busy. */
  readonly coresPerRequest: number;
}

export interface FamilyConfig {
  readonly name: string;
  /** The family's reference (full-precision) variant: quality 1, and the cost counterfactual. */
  readonly reference: string;
}

export interface GatewayConfig {
  /** The file the config came from, or `<defaults>`. */
  readonly source: string;
  readonly server: ServerConfig;
  readonly tiers: readonly TierConfig[];
  readonly tenants: readonly TenantConfig[];
  readonly variants: readonly VariantConfig[];
  readonly families: readonly FamilyConfig[];
  /** The family `model: "auto"` routes within. */
  readonly defaultFamily: string;
  /** The tenant `ensureDemoKey` creates a key for on first start (none when unset). */
  readonly demoTenant?: string | undefined;
  /** Kernel and onnxruntime threads (default: physical cores). */
  readonly threads?: number | undefined;
}

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

const serverSchema = z
  .strictObject(
    {
      host: text().default("127.0.0.1"),
      port: number("a port number (0–65535)")
        .int({ error: "expected a port number (0–65535)" })
        .min(0, { error: "expected a port number (0–65535)" })
        .max(65535, { error: "expected a port number (0–65535)" })
        .default(8080),
      bodyLimitBytes: positiveInt().default(1_048_576),
      adminToken: z
        .string({ error: "expected a string" })
        .min(16, { error: "expected at least 16 characters (an admin token must be hard to guess)" })
        .optional(),
      stateDir: text().default("data"),
    },
    mapping,
  )
  .prefault({});

const tierSchema = z.strictObject(
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

const tenantSchema = z.strictObject(
  {
    id: identifier(),
    name: text(),
    tier: identifier(),
    keys: list(keySchema, "keys").default([]),
  },
  mapping,
);

const cardSchema = z.looseObject(
  {
    prefillTokensPerS: positive(),
    decodeTokensPerS: positive(),
  },
  mapping,
);

const variantSchema = z.strictObject(
  {
    name: identifier(),
    family: identifier(),
    engine: oneOf(["bitnet", "onnx"]),
    path: text(),
    quality: number("a quality between 0 and 1")
      .positive({ error: "expected a quality in (0, 1]" })
      .max(1, { error: "expected a quality in (0, 1]" })
      .optional(),
    card: cardSchema,
    slots: positiveInt().default(1),
    costPerCoreHour: nonNegative(),
    wattsPerCore: nonNegative(),
    coresPerRequest: positive().default(1),
  },
  mapping,
);

const familySchema = z.strictObject({ name: identifier(), reference: identifier() }, mapping);

export const configSchema = z.strictObject(
  {
    server: serverSchema,
    tiers: list(tierSchema, "tiers").min(1, { error: "expected at least one tier" }),
    tenants: list(tenantSchema, "tenants").default([]),
    variants: list(variantSchema, "variants").min(1, { error: "expected at least one variant" }),
    families: list(familySchema, "families").optional(),
    defaultFamily: identifier().optional(),
    demoTenant: identifier().optional(),
    threads: positiveInt().optional(),
  },
  mapping,
);

export type RawConfig = z.output<typeof configSchema>;

// ── cross references ───────────────────────────────────────────────────────────────────────────────────

export interface CrossIssue {
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
export function crossCheck(raw: RawConfig): CrossIssue[] {
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
  if (raw.defaultFamily !== undefined && !familyNames.includes(raw.defaultFamily))
    issues.push({
      path: ["defaultFamily"],
      message: `unknown family ${JSON.stringify(raw.defaultFamily)} (families: ${names(familyNames)})`,
    });
  if (raw.demoTenant !== undefined && !raw.tenants.some((t) => t.id === raw.demoTenant))
    issues.push({ path: ["demoTenant"], message: `unknown tenant ${JSON.stringify(raw.demoTenant)}` });
  return issues;
}

/** The validated raw config with defaults derived: `*` expanded, families and the default family filled in. */
export function finish(raw: RawConfig, source: string, resolvePath: (p: string) => string): GatewayConfig {
  const variantNames = raw.variants.map((v) => v.name);
  const familyNames = [...new Set(raw.variants.map((v) => v.family))];
  const families: FamilyConfig[] =
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
    source,
    server: { ...raw.server, stateDir: resolvePath(raw.server.stateDir) },
    tiers: raw.tiers.map((t) => ({
      ...t,
      allowedVariants: t.allowedVariants === ALL_VARIANTS ? [...variantNames] : t.allowedVariants,
    })),
    tenants: raw.tenants,
    variants: raw.variants.map((v) => ({ ...v, path: resolvePath(v.path) })),
    families,
    defaultFamily: raw.defaultFamily ?? families[0]?.name ?? "",
    demoTenant: raw.demoTenant,
    threads: raw.threads,
  };
}
