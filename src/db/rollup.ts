/**
 * The daily_usage upsert, as the tail of the statement that inserts the requests: the rollup is
 * computed by the server from the rows that very INSERT returned, so it can only ever count a
 * request once — whatever the driver does with a transaction whose connection dropped (postgres.js
 * lets a `begin` callback's remaining queries run on the reconnected connection, outside the
 * transaction; a rollup computed in the client and sent as its own statement was added twice that way).
 */
import { type Column, getTableColumns, getTableName } from "drizzle-orm";
import type { RecordEntry } from "./entry.js";
import { dailyUsage, NO_VARIANT, requests, routingDecisions } from "./schema.js";

/**
 * The rule `slaMisses` below applies, for one entry in memory: a routed request that took longer than
 * its decision's SLA allowed (TTFT when it has one, or total).
 */
export function missedSla(entry: RecordEntry): boolean {
  const { request, decision } = entry;
  if (!decision) return false;
  const ttft = request.ttftMs;
  return (ttft !== null && ttft !== undefined && ttft > decision.sla.ttftMs) || request.totalMs > decision.sla.totalMs;
}

/** The columns of `daily_usage` that are sums (every one but its key). */
type Summed = Exclude<keyof typeof dailyUsage.$inferInsert, "day" | "tenantId" | "variant">;

const r = requests;
/** A column of the inserted request (`i`) or of its decision (`d`), by the schema's own name. */
const i = (column: Column) => `i."${column.name}"`;
const count = (condition: string) => `(count(*) filter (where ${condition}))::int`;
const total = (column: Column) => `coalesce(sum(${i(column)}), 0)`;

/**
 * What each summed column adds for a group of new requests. A request missed its SLA when it was
 * routed (it has a decision) and took longer than that decision allowed: TTFT when it has one, or
 * total time (a NULL comparison, no TTFT, falls through to the total's).
 */
const AGGREGATES: Record<Summed, string> = {
  requests: "count(*)::int",
  errors: count(`${i(r.status)} >= 400`),
  slaMisses: count(
    `coalesce(${i(r.ttftMs)} > (d."${routingDecisions.sla.name}"->>'ttftMs')::float8 or ` +
      `${i(r.totalMs)} > (d."${routingDecisions.sla.name}"->>'totalMs')::float8, false)`,
  ),
  degraded: count(i(r.degraded)),
  escalated: count(i(r.escalated)),
  cacheHits: count(i(r.cacheHit)),
  tokensIn: `${total(r.tokensIn)}::int`,
  tokensOut: `${total(r.tokensOut)}::int`,
  totalMs: total(r.totalMs),
  cpuMs: total(r.cpuMs),
  energyJ: total(r.energyJ),
  cost: total(r.cost),
  price: total(r.price),
  counterfactualCost: total(r.counterfactualCost),
};

const quoted = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * `usage AS (INSERT INTO daily_usage ...)`: a data-modifying CTE over `ins` (the requests just
 * inserted, all columns) joined to `decisions` (a table or CTE of routing_decisions' columns holding
 * at least their decisions). Groups are upserted sorted by key, so replicas updating the same rollups
 * lock them in one order and cannot deadlock.
 */
export function usageCte(decisions: string): string {
  const usage = getTableName(dailyUsage);
  const columns = getTableColumns(dailyUsage);
  const summed = Object.keys(AGGREGATES) as Summed[];
  const names = summed.map((k) => `"${columns[k].name}"`);
  const key = [columns.day, columns.tenantId, columns.variant].map((c) => `"${c.name}"`);
  const on = [r.requestId, r.createdAt].map((c) => `d."${c.name}" = ${i(c)}`).join(" and ");
  return (
    `usage as (insert into "${usage}" (${[...key, ...names].join(", ")}) ` +
    `select (${i(r.createdAt)} at time zone 'UTC')::date, ${i(r.tenantId)}, coalesce(${i(r.variant)}, ${quoted(NO_VARIANT)}), ` +
    `${summed.map((k) => AGGREGATES[k]).join(", ")} ` +
    `from ins i left join ${decisions} d on ${on} group by 1, 2, 3 order by 1, 2, 3 ` +
    `on conflict (${key.join(", ")}) do update set ` +
    `${names.map((n) => `${n} = "${usage}".${n} + excluded.${n}`).join(", ")})`
  );
}
