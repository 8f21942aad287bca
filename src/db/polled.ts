/**
 * A snapshot of some tables held in memory and kept current across processes by one counter row in
 * `settings`: every change to those tables bumps the counter in its own transaction, and each holder
 * reads that one row every `refreshMs` and reloads the tables only when it moved (and at least every
 * `fullReloadMs`, for changes made by hand in SQL). So a change made by any process on the same
 * database is seen by every other within one interval plus one reload, and a request never waits for
 * a query. Tenancy (tiers, tenants, keys) and the model registry (served versions, canaries) use it.
 */
import { eq, sql } from "drizzle-orm";
import type { Orm } from "./open.js";
import { settings } from "./schema.js";

export const DEFAULT_REFRESH_MS = 1000;
/** The longest a snapshot is kept without reading the tables, whatever the counter says. */
export const FULL_RELOAD_MS = 60_000;

/** Bumps the counter `name` (inside the change's transaction, so it moves exactly when the change commits). */
export async function bumpVersion(orm: Pick<Orm, "execute">, name: string): Promise<void> {
  await orm.execute(sql`insert into settings (name, value) values (${name}, '1')
    on conflict (name) do update set value = (settings.value::bigint + 1)::text, updated_at = now()`);
}

/** The counter `name` now ("0" before the first change). */
export async function readVersion(orm: Orm, name: string): Promise<string> {
  const rows = await orm.select({ value: settings.value }).from(settings).where(eq(settings.name, name));
  return rows[0]?.value ?? "0";
}

export interface PolledOptions {
  /** How often the counter is read; default 1000 ms. */
  readonly refreshMs?: number;
  /** Told about a reload that failed (the last good snapshot stays in use). */
  readonly onError?: (error: unknown) => void;
}

export interface Polled<T> {
  /** The latest snapshot loaded. */
  current(): T;
  /** Reloads now (after a change this process made, so it sees it at once); one reload at a time. */
  reload(): Promise<void>;
  /** Stops the periodic reload. */
  close(): void;
}

/**
 * Loads the first snapshot (so it is complete when returned), then polls the counter `setting`.
 * `onLoad` is called with every snapshot loaded after the first (whether or not the tables changed).
 */
export async function pollSnapshot<T>(
  orm: Orm,
  setting: string,
  load: () => Promise<T>,
  options: PolledOptions & { readonly onLoad?: (snapshot: T) => void } = {},
): Promise<Polled<T>> {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const read = async () => {
    // the counter first: a change made while the tables are read leaves it moved, and the next tick reloads
    const version = await readVersion(orm, setting);
    return { version, value: await load() };
  };
  let snapshot = await read();
  let loadedAt = Date.now();
  let inFlight: Promise<void> | undefined;

  function reload(): Promise<void> {
    // a caller arriving during a reload waits for a fresh one after it
    const next = (inFlight ?? Promise.resolve()).then(async () => {
      snapshot = await read();
      loadedAt = Date.now();
      options.onLoad?.(snapshot.value);
    });
    const settled = next.finally(() => {
      if (inFlight === settled) inFlight = undefined;
    });
    inFlight = settled;
    return settled;
  }

  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return; // a slow database: skip a tick rather than pile reloads up
    ticking = true;
    const stale = Date.now() - loadedAt >= FULL_RELOAD_MS;
    (stale ? reload() : readVersion(orm, setting).then((v) => (v === snapshot.version ? undefined : reload())))
      .catch((e) => options.onError?.(e))
      .finally(() => {
        ticking = false;
      });
  }, refreshMs);
  timer.unref();

  return { current: () => snapshot.value, reload, close: () => clearInterval(timer) };
}
