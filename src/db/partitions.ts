/**
 * Day partitions of the request log: created ahead of the rows that need them, and retention by
 * dropping whole partitions (instant, and nothing left behind to vacuum).
 */
import { sql } from "drizzle-orm";
import type { Database } from "./open.js";

export const PARTITIONED_TABLES = ["requests", "routing_decisions"] as const;
export type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

const DAY_MS = 86_400_000;
const NAME = /^(requests|routing_decisions)_p(\d{4})(\d{2})(\d{2})$/;

export function partitionName(table: PartitionedTable, day: string): string {
  return `${table}_p${day.replaceAll("-", "")}`;
}

/** `YYYY-MM-DD` of `ms` plus `offsetDays`, in UTC. */
export function utcDay(ms: number, offsetDays = 0): string {
  return new Date(ms + offsetDays * DAY_MS).toISOString().slice(0, 10);
}

function assertDay(day: string): void {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`)))
    throw new Error(`not a day: ${day}`);
}

/** Creates the partitions of both tables for these days when missing; safe against a replica doing the same. */
export async function ensurePartitions(database: Database, days: Iterable<string>): Promise<void> {
  for (const day of new Set(days)) {
    assertDay(day);
    const next = utcDay(Date.parse(`${day}T00:00:00Z`), 1);
    for (const table of PARTITIONED_TABLES) {
      const statement = sql.raw(
        `CREATE TABLE IF NOT EXISTS "${partitionName(table, day)}" PARTITION OF "${table}" ` +
          `FOR VALUES FROM ('${day} 00:00:00+00') TO ('${next} 00:00:00+00')`,
      );
      try {
        await database.orm.execute(statement);
      } catch (e) {
        // two replicas creating the same partition at once: the loser sees a duplicate, which is fine
        const code = (e as { code?: string }).code;
        if (code !== "42P07" && code !== "23505") throw e;
      }
    }
  }
}

export interface Partition {
  readonly table: PartitionedTable;
  readonly name: string;
  readonly day: string;
}

/** The day partitions that exist, oldest first. */
export async function listPartitions(database: Database): Promise<Partition[]> {
  const rows = await database.rows<{ name: string }>(sql`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname in ('requests', 'routing_decisions') and pg_table_is_visible(p.oid)`);
  const out: Partition[] = [];
  for (const { name } of rows) {
    const m = NAME.exec(name);
    if (m) out.push({ table: m[1] as PartitionedTable, name, day: `${m[2]}-${m[3]}-${m[4]}` });
  }
  return out.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.name < b.name ? -1 : 1));
}

/**
 * Drops the partitions wholly older than `retentionDays` days before `nowMs` (a partition for day D
 * goes once D is before the first day kept). Returns the names dropped.
 */
export async function dropExpiredPartitions(
  database: Database,
  retentionDays: number,
  nowMs: number,
): Promise<string[]> {
  if (!Number.isInteger(retentionDays) || retentionDays < 1)
    throw new Error("retentionDays must be a positive integer");
  const firstKept = utcDay(nowMs, -(retentionDays - 1));
  const dropped: string[] = [];
  for (const p of await listPartitions(database)) {
    if (p.day >= firstKept) continue;
    await database.orm.execute(sql.raw(`DROP TABLE IF EXISTS "${p.name}"`));
    dropped.push(p.name);
  }
  return dropped;
}
