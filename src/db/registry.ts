/**
 * The model registry: every version of every variant (`variants`), at most one `active` and one
 * `canary` per variant name, and every change of status or weight in `variant_transitions` with its
 * reason and figures. Each change is one transaction that locks the variant's rows first, so two
 * operators (or a replica's controller and an operator) cannot both promote or both register, and
 * bumps `registry.version` in `settings`, which every gateway polls (`pollSnapshot`) to load the change.
 * A canary controller's verdict (`decideCanary`) names the version it judged and changes it only while
 * that version is still the canary: the first verdict wins, a later one from another replica's window
 * (or one made stale by an operator) changes nothing.
 */
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import type { Database, Orm } from "./open.js";
import { bumpVersion, type Polled, type PolledOptions, pollSnapshot } from "./polled.js";
import {
  type VariantRow,
  type VariantTransitionKind,
  type VariantTransitionRow,
  variants,
  variantTransitions,
} from "./schema.js";

export type RegistryErrorCode =
  | "unknown_variant"
  | "no_canary"
  | "canary_exists"
  | "version_exists"
  | "engine_mismatch";

/** A registry change that cannot be made as asked; `status` is the HTTP status the admin API answers with. */
export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }

  get status(): 404 | 409 {
    return this.code === "unknown_variant" || this.code === "no_canary" ? 404 : 409;
  }
}

/** A variant's first version, from the gateway config. */
export type VariantSeed = Pick<
  VariantRow,
  "family" | "name" | "version" | "engine" | "path" | "fileSha256" | "card" | "measuredQuality"
>;

/** Why a change was made: by whom (`automatic`: the canary controller), in words, and on which figures. */
export interface TransitionCause {
  readonly automatic: boolean;
  readonly reason: string;
  readonly figures?: Readonly<Record<string, unknown>> | null;
}

/** What a variant name serves: its active version and its canary, when it has one. */
export interface ServingVersions {
  readonly name: string;
  readonly active: VariantRow | undefined;
  readonly canary: VariantRow | undefined;
}

/** The counter every registry change bumps; gateways poll it to reload what they serve. */
export const REGISTRY_VERSION_SETTING = "registry.version";

type Tx = Parameters<Parameters<Orm["transaction"]>[0]>[0];

/** Inserts each seed whose variant name the registry does not know yet, as its active version; returns those names. */
export async function seedRegistry(database: Database, seeds: readonly VariantSeed[]): Promise<string[]> {
  const added: string[] = [];
  for (const seed of seeds) {
    const inserted = await database.orm.transaction(async (tx) => {
      await lockVariant(tx, seed.name);
      const known = await tx.select({ id: variants.id }).from(variants).where(eq(variants.name, seed.name)).limit(1);
      if (known.length > 0) return false;
      await tx.insert(variants).values({ ...seed, status: "active", canaryWeight: 0 });
      await recordTransition(tx, seed.name, "registered", seed.version, null, 0, {
        automatic: true,
        reason: "seeded from the gateway config",
      });
      return true;
    });
    if (inserted) added.push(seed.name);
  }
  return added;
}

/** Every version the registry holds, by variant name then registration order. */
export function listVersions(database: Database): Promise<VariantRow[]> {
  return database.orm.select().from(variants).orderBy(asc(variants.name), asc(variants.id));
}

/** Per variant name, its active version and its canary. */
export async function servingVersions(database: Database): Promise<ServingVersions[]> {
  const rows = await database.orm
    .select()
    .from(variants)
    .where(inArray(variants.status, ["active", "canary"]))
    .orderBy(asc(variants.name));
  const byName = new Map<string, ServingVersions>();
  for (const row of rows) {
    const entry = byName.get(row.name) ?? { name: row.name, active: undefined, canary: undefined };
    byName.set(row.name, { ...entry, [row.status === "active" ? "active" : "canary"]: row });
  }
  return [...byName.values()];
}

export interface NewVersion {
  readonly name: string;
  /** default: one more than the largest numeric version the variant has */
  readonly version?: string | undefined;
  readonly path: string;
  /** checked by the caller against the file (`checkModelFile`) */
  readonly fileSha256: string;
  readonly engine: VariantRow["engine"];
  /** default: the active version's */
  readonly card?: VariantRow["card"];
}

/** Registers a version as the variant's canary with weight 0 (no traffic until `setCanaryWeight`). */
export async function registerVersion(
  database: Database,
  input: NewVersion,
  cause: TransitionCause,
): Promise<VariantRow> {
  return database.orm.transaction(async (tx) => {
    await lockVariant(tx, input.name);
    const rows = await tx.select().from(variants).where(eq(variants.name, input.name));
    const active = rows.find((r) => r.status === "active");
    if (!active)
      throw new RegistryError("unknown_variant", `the registry has no variant ${JSON.stringify(input.name)}`);
    const canary = rows.find((r) => r.status === "canary");
    if (canary) {
      throw new RegistryError(
        "canary_exists",
        `variant ${input.name} already has canary version ${canary.version}: promote it or roll it back first`,
      );
    }
    if (input.engine !== active.engine) {
      throw new RegistryError(
        "engine_mismatch",
        `variant ${input.name} runs on ${active.engine}; a ${input.engine} file is another variant, not a version of it`,
      );
    }
    const version = input.version ?? nextVersion(rows.map((r) => r.version));
    if (rows.some((r) => r.version === version)) {
      throw new RegistryError(
        "version_exists",
        `variant ${input.name} already has a version ${JSON.stringify(version)}`,
      );
    }
    const [row] = await tx
      .insert(variants)
      .values({
        family: active.family,
        name: input.name,
        version,
        engine: input.engine,
        path: input.path,
        fileSha256: input.fileSha256,
        status: "canary",
        canaryWeight: 0,
        measuredQuality: null,
        card: input.card ?? active.card,
      })
      .returning();
    await recordTransition(tx, input.name, "registered", version, active.version, 0, cause);
    return row!;
  });
}

/** Sets the share of the variant's traffic its canary gets. */
export async function setCanaryWeight(
  database: Database,
  name: string,
  weight: number,
  cause: TransitionCause,
): Promise<VariantRow> {
  if (!(weight >= 0 && weight <= 1)) throw new RangeError(`a canary weight is a share in [0, 1], got ${weight}`);
  return database.orm.transaction(async (tx) => {
    const { active, canary } = await lockedPair(tx, name);
    const [row] = await tx
      .update(variants)
      .set({ canaryWeight: weight, updatedAt: sql`now()` })
      .where(eq(variants.id, canary.id))
      .returning();
    await recordTransition(tx, name, "weight", canary.version, active?.version ?? null, weight, cause);
    return row!;
  });
}

/** The canary becomes the active version; the version it replaces is retired. */
export async function promoteCanary(
  database: Database,
  name: string,
  cause: TransitionCause,
): Promise<{ readonly promoted: VariantRow; readonly retired: VariantRow | undefined }> {
  return database.orm.transaction(async (tx) => {
    const { active, canary } = await lockedPair(tx, name);
    return promoteIn(tx, name, active, canary, cause);
  });
}

/** The canary is retired with weight 0: the active version serves everything again. */
export async function rollBackCanary(database: Database, name: string, cause: TransitionCause): Promise<VariantRow> {
  return database.orm.transaction(async (tx) => {
    const { active, canary } = await lockedPair(tx, name);
    return rollBackIn(tx, name, active, canary, cause);
  });
}

/**
 * A canary controller's verdict on `version` of `name`: promoted or rolled back only while that version
 * is still the variant's canary. Returns whether this call made the transition; false when another
 * replica or an operator decided first (or a newer canary replaced it), in which case nothing changes.
 */
export async function decideCanary(
  database: Database,
  name: string,
  version: string,
  action: "promote" | "rollback",
  cause: TransitionCause,
): Promise<boolean> {
  return database.orm.transaction(async (tx) => {
    await lockVariant(tx, name);
    const rows = await tx
      .select()
      .from(variants)
      .where(and(eq(variants.name, name), inArray(variants.status, ["active", "canary"])));
    const canary = rows.find((r) => r.status === "canary" && r.version === version);
    if (!canary) return false;
    const active = rows.find((r) => r.status === "active");
    if (action === "promote") await promoteIn(tx, name, active, canary, cause);
    else await rollBackIn(tx, name, active, canary, cause);
    return true;
  });
}

async function promoteIn(
  tx: Tx,
  name: string,
  active: VariantRow | undefined,
  canary: VariantRow,
  cause: TransitionCause,
): Promise<{ readonly promoted: VariantRow; readonly retired: VariantRow | undefined }> {
  let retired: VariantRow | undefined;
  if (active) {
    [retired] = await tx
      .update(variants)
      .set({ status: "retired", canaryWeight: 0, updatedAt: sql`now()` })
      .where(and(eq(variants.id, active.id), eq(variants.status, "active")))
      .returning();
  }
  const [promoted] = await tx
    .update(variants)
    .set({ status: "active", canaryWeight: 0, updatedAt: sql`now()` })
    .where(and(eq(variants.id, canary.id), eq(variants.status, "canary")))
    .returning();
  await recordTransition(tx, name, "promoted", canary.version, active?.version ?? null, 0, cause);
  return { promoted: promoted!, retired };
}

async function rollBackIn(
  tx: Tx,
  name: string,
  active: VariantRow | undefined,
  canary: VariantRow,
  cause: TransitionCause,
): Promise<VariantRow> {
  const [row] = await tx
    .update(variants)
    .set({ status: "retired", canaryWeight: 0, updatedAt: sql`now()` })
    .where(and(eq(variants.id, canary.id), eq(variants.status, "canary")))
    .returning();
  await recordTransition(tx, name, "rolled_back", canary.version, active?.version ?? null, 0, cause);
  return row!;
}

/** The latest transitions, newest first (of one variant when given). */
export function listTransitions(
  database: Database,
  options: { readonly variant?: string | undefined; readonly limit?: number } = {},
): Promise<VariantTransitionRow[]> {
  const query = database.orm.select().from(variantTransitions);
  const filtered = options.variant === undefined ? query : query.where(eq(variantTransitions.variant, options.variant));
  return filtered.orderBy(desc(variantTransitions.id)).limit(options.limit ?? 100);
}

/** One more than the largest integer version, else the count of versions plus one. */
function nextVersion(versions: readonly string[]): string {
  const numeric = versions.filter((v) => /^\d+$/.test(v)).map(Number);
  return String(numeric.length > 0 ? Math.max(...numeric) + 1 : versions.length + 1);
}

/** A transaction-scoped advisory lock per variant name: its changes take turns, across replicas too. */
async function lockVariant(tx: Tx, name: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`tritgate.variant:${name}`}))`);
}

async function lockedPair(tx: Tx, name: string): Promise<{ active: VariantRow | undefined; canary: VariantRow }> {
  await lockVariant(tx, name);
  const rows = await tx
    .select()
    .from(variants)
    .where(and(eq(variants.name, name), inArray(variants.status, ["active", "canary"])));
  const canary = rows.find((r) => r.status === "canary");
  if (!canary) {
    const known =
      rows.length > 0 ||
      (await tx.select({ id: variants.id }).from(variants).where(eq(variants.name, name))).length > 0;
    throw known
      ? new RegistryError("no_canary", `variant ${name} has no canary version (register one first)`)
      : new RegistryError("unknown_variant", `the registry has no variant ${JSON.stringify(name)}`);
  }
  return { active: rows.find((r) => r.status === "active"), canary };
}

async function recordTransition(
  tx: Tx,
  variant: string,
  kind: VariantTransitionKind,
  version: string,
  stableVersion: string | null,
  canaryWeight: number,
  cause: TransitionCause,
): Promise<void> {
  await tx.insert(variantTransitions).values({
    variant,
    kind,
    version,
    stableVersion,
    automatic: cause.automatic,
    reason: cause.reason,
    canaryWeight,
    figures: cause.figures ?? null,
  });
  // in the change's transaction: other gateways see the counter move exactly when the change commits
  await bumpVersion(tx, REGISTRY_VERSION_SETTING);
}

/**
 * What the registry serves, kept current: loaded now, then reloaded within `refreshMs` of any change
 * committed by any process on the database (`onLoad` gets every reload).
 */
export function watchRegistry(
  database: Database,
  options: PolledOptions & { readonly onLoad?: (serving: ServingVersions[]) => void } = {},
): Promise<Polled<ServingVersions[]>> {
  return pollSnapshot(database.orm, REGISTRY_VERSION_SETTING, () => servingVersions(database), options);
}
