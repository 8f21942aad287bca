/** A tier's summary against its thresholds: every breach, worded for the log. Pure. */
import type { TierSummary } from "./summary.js";

export interface Breach {
  readonly tier: string;
  readonly threshold: "ttft_p95" | "duration_p95" | "error_rate" | "degraded_share" | "dropped" | "answers";
  readonly message: string;
}

/** `expectsStreams`: the tier sent streamed requests, so a TTFT must have been measured. */
export function breaches(summary: TierSummary, expectsStreams: boolean): Breach[] {
  const t = summary.thresholds;
  const out: Breach[] = [];
  const add = (threshold: Breach["threshold"], message: string) =>
    out.push({ tier: summary.tier, threshold, message: `${summary.tier}: ${message}` });
  if (summary.answered === 0) add("answers", `no request was answered (${summary.sent} sent)`);
  const ttft = summary.ttftMs.p95;
  if (ttft !== undefined && ttft > t.ttftP95Ms)
    add("ttft_p95", `TTFT p95 ${ttft.toFixed(0)} ms is over the tier's SLA of ${t.ttftP95Ms} ms`);
  if (ttft === undefined && expectsStreams && summary.answered > 0)
    add("ttft_p95", "no streamed answer, so TTFT was not measured");
  const duration = summary.durationMs.p95;
  if (duration !== undefined && duration > t.durationP95Ms)
    add("duration_p95", `duration p95 ${duration.toFixed(0)} ms is over the tier's SLA of ${t.durationP95Ms} ms`);
  if (summary.errorRate > t.maxErrorRate) {
    const reasons = Object.entries(summary.errorReasons)
      .map(([reason, n]) => `${n}× ${reason}`)
      .join(", ");
    add(
      "error_rate",
      `${summary.errors} of ${summary.sent} requests failed (${(summary.errorRate * 100).toFixed(1)}%, allowed ` +
        `${(t.maxErrorRate * 100).toFixed(1)}%): ${reasons}`,
    );
  }
  if (summary.degradedShare > t.maxDegradedShare)
    add(
      "degraded_share",
      `${(summary.degradedShare * 100).toFixed(1)}% of answers degraded (allowed ${(t.maxDegradedShare * 100).toFixed(1)}%)`,
    );
  if (summary.dropped > t.maxDropped)
    add("dropped", `${summary.dropped} arrivals dropped: maxVUs requests were already in flight`);
  return out;
}
