/**
 * One tier's measured run, summarised; and the per-tier table the runner prints. Pure.
 *
 * Rates: offered = arrivals / scheduled duration; achieved = answered (200, complete) / the longer of the
 * scheduled duration and the time to the last answer, so a gateway that answers late shows a lower
 * achieved rate, and one that keeps up shows the offered rate.
 * TTFT percentiles are over the streamed answers; duration percentiles over all answers; the error
 * rate is over the requests sent (dropped arrivals are counted apart); degraded share over the answers.
 */
import { percentile } from "./percentile.js";
import type { Thresholds } from "./resolve.js";

/** One request as the runner saw it; times in ms from the run's start. */
export interface Sample {
  readonly stream: boolean;
  /** the HTTP status, or 0 when no response came (connection refused, timeout) */
  readonly status: number;
  /** a 200 whose body was complete: `[DONE]` for a stream, a parsed completion otherwise */
  readonly ok: boolean;
  /** scheduled arrival → first content delta, streamed answers only */
  readonly ttftMs: number | undefined;
  /** scheduled arrival → last byte */
  readonly durationMs: number;
  /** when the last byte came, ms after the run's start */
  readonly endMs: number;
  readonly degraded: boolean;
  /** `x-tritgate-variant`: the variant that answered */
  readonly variant: string | undefined;
  /** the error code or a short reason, when not ok */
  readonly error: string | undefined;
}

export interface TierSummary {
  readonly tier: string;
  readonly offeredPerSecond: number;
  readonly achievedPerSecond: number;
  readonly arrivals: number;
  readonly sent: number;
  readonly answered: number;
  readonly streamed: number;
  readonly ttftMs: { readonly p50?: number; readonly p95?: number; readonly p99?: number };
  readonly durationMs: { readonly p50?: number; readonly p95?: number; readonly p99?: number };
  readonly errors: number;
  readonly errorRate: number;
  /** error reasons and how often, e.g. { "429 rejected_overload": 3 } */
  readonly errorReasons: Readonly<Record<string, number>>;
  readonly degradedShare: number;
  /** answers per variant, e.g. { "nano-b158": 12, "nano-fp32": 3 } */
  readonly variants: Readonly<Record<string, number>>;
  readonly dropped: number;
  readonly thresholds: Thresholds;
}

export function summarise(
  tier: string,
  samples: readonly Sample[],
  dropped: number,
  durationSeconds: number,
  thresholds: Thresholds,
): TierSummary {
  const answered = samples.filter((s) => s.ok);
  const ttfts = answered.flatMap((s) => (s.stream && s.ttftMs !== undefined ? [s.ttftMs] : []));
  const durations = answered.map((s) => s.durationMs);
  const lastEnd = Math.max(0, ...answered.map((s) => s.endMs));
  const failed = samples.filter((s) => !s.ok);
  const errorReasons: Record<string, number> = {};
  for (const s of failed) {
    const reason = `${s.status} ${s.error ?? "error"}`;
    errorReasons[reason] = (errorReasons[reason] ?? 0) + 1;
  }
  const variants: Record<string, number> = {};
  for (const s of answered) if (s.variant) variants[s.variant] = (variants[s.variant] ?? 0) + 1;
  const spread = (values: number[]) => ({
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
  });
  return {
    tier,
    offeredPerSecond: (samples.length + dropped) / durationSeconds,
    achievedPerSecond: answered.length / Math.max(durationSeconds, lastEnd / 1000),
    arrivals: samples.length + dropped,
    sent: samples.length,
    answered: answered.length,
    streamed: ttfts.length,
    ttftMs: spread(ttfts),
    durationMs: spread(durations),
    errors: failed.length,
    errorRate: samples.length > 0 ? failed.length / samples.length : 0,
    errorReasons,
    degradedShare: answered.length > 0 ? answered.filter((s) => s.degraded).length / answered.length : 0,
    variants,
    dropped,
    thresholds,
  };
}

const ms = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(0));

/** The per-tier table, fixed-width, one line per tier. */
export function formatTable(summaries: readonly TierSummary[]): string {
  const headers = [
    "tier",
    "offered/s",
    "achieved/s",
    "sent",
    "ok",
    "ttft p50",
    "ttft p95",
    "ttft p99",
    "dur p50",
    "dur p95",
    "errors",
    "degraded",
    "dropped",
    "SLA ttft/total ms",
    "answered by",
  ];
  const rows = summaries.map((s) => [
    s.tier,
    s.offeredPerSecond.toFixed(2),
    s.achievedPerSecond.toFixed(2),
    String(s.sent),
    String(s.answered),
    ms(s.ttftMs.p50),
    ms(s.ttftMs.p95),
    ms(s.ttftMs.p99),
    ms(s.durationMs.p50),
    ms(s.durationMs.p95),
    `${s.errors} (${(s.errorRate * 100).toFixed(1)}%)`,
    `${(s.degradedShare * 100).toFixed(1)}%`,
    String(s.dropped),
    `${s.thresholds.ttftP95Ms}/${s.thresholds.durationP95Ms}`,
    Object.entries(s.variants)
      .map(([variant, n]) => `${variant} ${n}`)
      .join(", "),
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 || i === headers.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
