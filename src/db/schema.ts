/**
 * The database schema, the single source of truth: drizzle-kit generates `drizzle/` from it and the row
 * types the server builds are its inferred insert types. `requests` and `routing_decisions` are
 * partitioned by day of `created_at`; drizzle cannot express that, so a custom migration turns the
 * tables declared here into partitioned ones (see `drizzle/0001_partition_request_log.sql`).
 *
 * Money is in the gateway's price unit (the tiers' price per 1k tokens), durations in ms, energy in J.
 */
import { type Column, type InferSelectModel, sql, type Table } from "drizzle-orm";
import {
  boolean,
  check,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import type { Candidate, EngineKind, OverloadPolicy, ReasonCode, Strategy } from "../../router/index.js";

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow();

// ── tenancy ─────────────────────────────────────────────────────────────────────────────────────────────

export const tiers = pgTable("tiers", {
  name: text("name").primaryKey(),
  qualityFloor: doublePrecision("quality_floor").notNull(),
  ttftSlaMs: doublePrecision("ttft_sla_ms").notNull(),
  totalSlaMs: doublePrecision("total_sla_ms").notNull(),
  pricePer1kInput: doublePrecision("price_per_1k_input").notNull(),
  pricePer1kOutput: doublePrecision("price_per_1k_output").notNull(),
  allowedVariants: jsonb("allowed_variants").$type<readonly string[]>().notNull(),
  onOverload: text("on_overload").$type<OverloadPolicy>().notNull(),
  maxQueueWaitMs: doublePrecision("max_queue_wait_ms").notNull(),
  priority: integer("priority").notNull(),
  strategy: text("strategy").$type<Strategy>().notNull(),
  cascadeThreshold: doublePrecision("cascade_threshold").notNull(),
  requestsPerMinute: integer("requests_per_minute").notNull(),
  tokensPerMinute: integer("tokens_per_minute").notNull(),
  /** tokens per calendar month (UTC); 0 = unlimited */
  monthlyTokenBudget: integer("monthly_token_budget").notNull(),
  maxOutputTokens: integer("max_output_tokens").notNull(),
  createdAt: createdAt(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
});

export const tenants = pgTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  tier: text("tier")
    .notNull()
    .references(() => tiers.name),
  createdAt: createdAt(),
  disabledAt: timestamp("disabled_at", { withTimezone: true, mode: "string" }),
});

/** Never the key itself: its SHA-256 and the first characters shown for recognition. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /** hex SHA-256 of the full key */
    hash: text("hash").notNull(),
    /** `tg-` and the next characters, for display and audit */
    prefix: text("prefix").notNull(),
    createdAt: createdAt(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "string" }),
  },
  (t) => [
    uniqueIndex("api_keys_hash_idx").on(t.hash),
    index("api_keys_tenant_idx").on(t.tenantId),
    check("api_keys_hash_is_sha256", sql`${t.hash} ~ '^[0-9a-f]{64}$'`),
  ],
);

/**
 * The gateway's own facts that must be shared by every replica: when tenancy was seeded from the config
 * (so a restart does not re-seed what an admin deleted) and the generated admin token's SHA-256.
 */
export const settings = pgTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
});

// ── the model registry ──────────────────────────────────────────────────────────────────────────────────

export const VARIANT_STATUSES = ["active", "canary", "retired"] as const;
export type VariantStatus = (typeof VARIANT_STATUSES)[number];

export const variants = pgTable(
  "variants",
  {
    id: serial("id").primaryKey(),
    family: text("family").notNull(),
    /** the name requests and routing use (`requests.variant`) */
    name: text("name").notNull(),
    version: text("version").notNull(),
    engine: text("engine").$type<EngineKind>().notNull(),
    path: text("path").notNull(),
    /** hex SHA-256 of the model file */
    fileSha256: text("file_sha256").notNull(),
    status: text("status", { enum: VARIANT_STATUSES }).notNull(),
    /** the share of its family's traffic while `canary`, in [0, 1] */
    canaryWeight: doublePrecision("canary_weight").notNull().default(0),
    /** q = ppl_reference / ppl_variant, once measured */
    measuredQuality: doublePrecision("measured_quality"),
    /** the model card's figures (prefill/decode tokens per second on the reference machine and the rest) */
    card: jsonb("card").$type<Readonly<Record<string, unknown>>>().notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("variants_name_version_idx").on(t.name, t.version),
    // the registry serves one active version per variant and tries at most one canary beside it
    uniqueIndex("variants_one_active_idx").on(t.name).where(sql`${t.status} = 'active'`),
    uniqueIndex("variants_one_canary_idx").on(t.name).where(sql`${t.status} = 'canary'`),
    index("variants_family_idx").on(t.family),
    check("variants_status_known", sql`${t.status} in ('active', 'canary', 'retired')`),
    check("variants_canary_weight_share", sql`${t.canaryWeight} >= 0 and ${t.canaryWeight} <= 1`),
    check("variants_file_sha256_hex", sql`${t.fileSha256} ~ '^[0-9a-f]{64}$'`),
  ],
);

/** What a registry transition did: a version registered, its canary weight set, promoted, rolled back. */
export const VARIANT_TRANSITION_KINDS = ["registered", "weight", "promoted", "rolled_back"] as const;
export type VariantTransitionKind = (typeof VARIANT_TRANSITION_KINDS)[number];

/** Every change of the registry's statuses and weights, with why and the figures that triggered it. */
export const variantTransitions = pgTable(
  "variant_transitions",
  {
    id: serial("id").primaryKey(),
    /** the variant name (`variants.name`) */
    variant: text("variant").notNull(),
    kind: text("kind", { enum: VARIANT_TRANSITION_KINDS }).notNull(),
    /** the version the change is about (the canary's, or the one registered) */
    version: text("version").notNull(),
    /** the version that was active before it (the one a promotion retired); null when none */
    stableVersion: text("stable_version"),
    /** false: an operator asked for it (CLI, admin API); true: the canary controller decided it */
    automatic: boolean("automatic").notNull(),
    reason: text("reason").notNull(),
    /** the canary weight after the change */
    canaryWeight: doublePrecision("canary_weight").notNull(),
    /** the window figures and bounds that triggered it (canary and stable success rate, p95, requests) */
    figures: jsonb("figures").$type<Readonly<Record<string, unknown>>>(),
    createdAt: createdAt(),
  },
  (t) => [index("variant_transitions_variant_idx").on(t.variant, t.createdAt)],
);

export const evaluations = pgTable(
  "evaluations",
  {
    id: serial("id").primaryKey(),
    variantId: integer("variant_id")
      .notNull()
      .references(() => variants.id),
    /** what was measured on, e.g. the held-out corpus */
    suite: text("suite").notNull(),
    perplexity: doublePrecision("perplexity"),
    /** q against the family's reference on the same suite */
    quality: doublePrecision("quality"),
    tokens: integer("tokens").notNull(),
    details: jsonb("details").$type<Readonly<Record<string, unknown>>>(),
    createdAt: createdAt(),
  },
  (t) => [index("evaluations_variant_idx").on(t.variantId, t.createdAt)],
);

// ── the request log (partitioned by day) ────────────────────────────────────────────────────────────────

/** Where an energy figure comes from: the cost model's watts per core × CPU time, or the RAPL meter (as in metrics). */
export const ENERGY_SOURCES = ["estimate", "rapl"] as const;
export type EnergySource = (typeof ENERGY_SOURCES)[number];

/**
 * One row per request. No foreign keys: a row must be writable (and replayable from the journal)
 * whatever happened to its tenant or key since, and the log is written far more than it is joined.
 */
export const requests = pgTable(
  "requests",
  {
    requestId: text("request_id").notNull(),
    /** when the request arrived; the partition key */
    createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull(),
    endpoint: text("endpoint").notNull(),
    tenantId: text("tenant_id").notNull(),
    keyId: text("key_id").notNull(),
    tier: text("tier").notNull(),
    /** the model the client asked for */
    model: text("model").notNull(),
    /** the variant that answered (null when none did) */
    variant: text("variant"),
    /** the registry version of that variant that answered (its canary or its stable one) */
    variantVersion: text("variant_version"),
    status: smallint("status").notNull(),
    stream: boolean("stream").notNull(),
    tokensIn: integer("tokens_in").notNull(),
    tokensOut: integer("tokens_out").notNull(),
    queueMs: doublePrecision("queue_ms"),
    ttftMs: doublePrecision("ttft_ms"),
    totalMs: doublePrecision("total_ms").notNull(),
    cpuMs: doublePrecision("cpu_ms"),
    energyJ: doublePrecision("energy_j"),
    energySource: text("energy_source", { enum: ENERGY_SOURCES }).notNull().default("estimate"),
    /** what serving it cost us */
    cost: doublePrecision("cost"),
    /** what the tenant is charged */
    price: doublePrecision("price"),
    /** what it would have cost on the family's fp32 variant */
    counterfactualCost: doublePrecision("counterfactual_cost"),
    cacheHit: boolean("cache_hit").notNull(),
    degraded: boolean("degraded").notNull(),
    /** the cascade re-answered it with a stronger variant */
    escalated: boolean("escalated").notNull().default(false),
    errorCode: text("error_code"),
  },
  (t) => [
    primaryKey({ name: "requests_pkey", columns: [t.requestId, t.createdAt] }),
    index("requests_tenant_created_idx").on(t.tenantId, t.createdAt),
  ],
);

export interface LoadSnapshot {
  readonly running: number;
  /** queued requests this one would wait behind: those of its tier's priority or higher */
  readonly waiting: number;
}

/** One row per routed request (same key as its request, same partition day). */
export const routingDecisions = pgTable(
  "routing_decisions",
  {
    requestId: text("request_id").notNull(),
    /** its request's `created_at`; the recorder fills it in when absent */
    createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
    decisionId: text("decision_id").notNull(),
    strategy: text("strategy").$type<Strategy>().notNull(),
    qualityNeed: doublePrecision("quality_need").notNull(),
    sla: jsonb("sla").$type<{ readonly ttftMs: number; readonly totalMs: number }>().notNull(),
    /** running / waiting per variant when the decision was made */
    load: jsonb("load").$type<Readonly<Record<string, LoadSnapshot>>>().notNull(),
    candidates: jsonb("candidates").$type<readonly Candidate[]>().notNull(),
    chosen: text("chosen"),
    reason: text("reason").$type<ReasonCode>().notNull(),
    /** the variants actually tried, in order (the first that succeeded is last) */
    fallbackChain: jsonb("fallback_chain").$type<readonly string[]>().notNull(),
    degraded: boolean("degraded").notNull(),
  },
  (t) => [primaryKey({ name: "routing_decisions_pkey", columns: [t.requestId, t.createdAt] })],
);

// ── rollups ─────────────────────────────────────────────────────────────────────────────────────────────

/** `daily_usage.variant` for requests no variant answered (rejected or failed before any did). */
export const NO_VARIANT = "";

/**
 * Tenant × variant × UTC day, maintained by the recorder in the transaction that inserts the
 * requests, from the rows that insert actually added: reports read this, never a scan of `requests`.
 */
export const dailyUsage = pgTable(
  "daily_usage",
  {
    day: date("day", { mode: "string" }).notNull(),
    tenantId: text("tenant_id").notNull(),
    variant: text("variant").notNull(),
    requests: integer("requests").notNull(),
    /** status >= 400 */
    errors: integer("errors").notNull(),
    /** routed requests whose TTFT or total time exceeded their decision's SLA */
    slaMisses: integer("sla_misses").notNull(),
    degraded: integer("degraded").notNull(),
    escalated: integer("escalated").notNull(),
    cacheHits: integer("cache_hits").notNull(),
    tokensIn: integer("tokens_in").notNull(),
    tokensOut: integer("tokens_out").notNull(),
    totalMs: doublePrecision("total_ms").notNull(),
    cpuMs: doublePrecision("cpu_ms").notNull(),
    energyJ: doublePrecision("energy_j").notNull(),
    cost: doublePrecision("cost").notNull(),
    price: doublePrecision("price").notNull(),
    counterfactualCost: doublePrecision("counterfactual_cost").notNull(),
  },
  (t) => [
    primaryKey({ name: "daily_usage_pkey", columns: [t.day, t.tenantId, t.variant] }),
    // one tenant's report (`/v1/usage`) reads only its own rows, not every tenant's for each day of the range
    index("daily_usage_tenant_day_idx").on(t.tenantId, t.day),
  ],
);

/**
 * The row a writer builds in full: every column without a default present (a nullable one as `null`,
 * not left out), the columns with defaults optional. Readers of such a row then see `T | null`, never
 * `undefined`, where drizzle's plain insert type would make every nullable column optional.
 */
export type RowToWrite<T extends Table> = {
  [K in keyof T["_"]["columns"] as T["_"]["columns"][K]["_"]["hasDefault"] extends true
    ? never
    : K]: K extends keyof InferSelectModel<T> ? InferSelectModel<T>[K] : never;
} & {
  [K in keyof T["_"]["columns"] as T["_"]["columns"][K]["_"]["hasDefault"] extends true ? K : never]?: ColumnValue<
    T["_"]["columns"][K]
  >;
};

type ColumnValue<C extends Column> = C["_"]["notNull"] extends true ? C["_"]["data"] : C["_"]["data"] | null;

export type TierRow = typeof tiers.$inferSelect;
export type TenantRow = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type SettingRow = typeof settings.$inferSelect;
export type VariantRow = typeof variants.$inferSelect;
export type VariantTransitionRow = typeof variantTransitions.$inferSelect;
export type EvaluationRow = typeof evaluations.$inferSelect;
/** What the server builds for each request. */
export type RequestInsert = RowToWrite<typeof requests>;
export type RequestSelect = typeof requests.$inferSelect;
/** What the server builds for each routed request. */
export type RoutingDecisionInsert = RowToWrite<typeof routingDecisions>;
export type RoutingDecisionSelect = typeof routingDecisions.$inferSelect;
export type DailyUsageRow = typeof dailyUsage.$inferSelect;
