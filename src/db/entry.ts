/** What the recorder is handed per request: its row and, when it was routed, its decision's. */
import type { RequestInsert, RoutingDecisionInsert } from "./schema.js";

export interface RecordEntry {
  readonly request: Readonly<RequestInsert>;
  readonly decision: Readonly<RoutingDecisionInsert> | null;
}

/** The UTC day (`YYYY-MM-DD`) of a timestamp as the server writes it (ISO 8601) or Postgres returns it. */
export function dayOf(timestamp: string): string {
  // the server's own ISO strings in UTC need no parse; anything else (an offset, Postgres' format) does
  if (timestamp.length >= 20 && timestamp.endsWith("Z") && timestamp[10] === "T") return timestamp.slice(0, 10);
  const ms = Date.parse(timestamp.includes("T") ? timestamp : timestamp.replace(" ", "T"));
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${timestamp}`);
  return new Date(ms).toISOString().slice(0, 10);
}
