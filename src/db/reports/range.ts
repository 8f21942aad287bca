/**
 * Report ranges: whole UTC days, `from` and `to` both included. Pure; the HTTP routes turn a refusal
 * into a 400 naming its parameter, the queries refuse a range that was not made here.
 */

export interface DayRange {
  /** `YYYY-MM-DD`, included */
  readonly from: string;
  /** `YYYY-MM-DD`, included; not before `from` */
  readonly to: string;
}

/** A range longer than this is refused: a report is a bounded read of daily_usage (days × tenants × variants). */
export const MAX_RANGE_DAYS = 366;
/** The range reports cover when a caller gives neither end: today and the 29 days before it. */
export const DEFAULT_RANGE_DAYS = 30;

const DAY_MS = 86_400_000;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

export type RangeResult =
  | { readonly ok: true; readonly range: DayRange }
  | { readonly ok: false; readonly param: "from" | "to"; readonly message: string };

/** Milliseconds at 00:00 UTC of a `YYYY-MM-DD` that names a real calendar day, else undefined. */
export function dayStartMs(day: string): number | undefined {
  const m = DAY.exec(day);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // Date.UTC rolls 2026-02-30 over into March: a day that does not round-trip does not exist
  return new Date(ms).toISOString().slice(0, 10) === day ? ms : undefined;
}

/** `YYYY-MM-DD` of the UTC day `offsetDays` after the one containing `ms`. */
export function utcDayOf(ms: number, offsetDays = 0): string {
  return new Date(ms + offsetDays * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The range a caller asked for. Either end may be left out: `to` defaults to today (UTC) or to
 * `from` + 29 days, `from` to `to` − 29 days, so that a bare request covers the last 30 days.
 */
export function parseDayRange(from: string | undefined, to: string | undefined, nowMs: number): RangeResult {
  const fromMs = from === undefined ? undefined : dayStartMs(from);
  if (from !== undefined && fromMs === undefined)
    return { ok: false, param: "from", message: `from must be a UTC day written YYYY-MM-DD, got '${from}'` };
  const toMs = to === undefined ? undefined : dayStartMs(to);
  if (to !== undefined && toMs === undefined)
    return { ok: false, param: "to", message: `to must be a UTC day written YYYY-MM-DD, got '${to}'` };
  const span = DEFAULT_RANGE_DAYS - 1;
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const end = toMs ?? (fromMs === undefined ? today : fromMs + span * DAY_MS);
  const start = fromMs ?? end - span * DAY_MS;
  if (start > end)
    return { ok: false, param: "from", message: `from (${utcDayOf(start)}) is after to (${utcDayOf(end)})` };
  const days = (end - start) / DAY_MS + 1;
  if (days > MAX_RANGE_DAYS)
    return {
      ok: false,
      param: "to",
      message: `the range covers ${days} days; at most ${MAX_RANGE_DAYS} are reported at once`,
    };
  return { ok: true, range: { from: utcDayOf(start), to: utcDayOf(end) } };
}

/** Throws unless `range` is one `parseDayRange` could have returned (for callers that bypass it). */
export function assertDayRange(range: DayRange): void {
  const checked = parseDayRange(range.from, range.to, 0);
  if (!checked.ok) throw new RangeError(checked.message);
}
