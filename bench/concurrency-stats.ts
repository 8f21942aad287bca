/**
 * What bench:concurrency reads off a set of concurrent streams, for tritgate's pool and for
 * llama.cpp alike: each stream is its submit time and the arrival time of every token
 * (performance.now() milliseconds in one process).
 *
 * - Aggregate decode tokens/s is measured in the steady state: the window from the moment the last
 *   stream received its first token (every stream past its prefill) to the moment the first stream
 *   received its last token (none finished yet). Each stream's rate in it is its token intervals
 *   inside the window over their span (tokens - 1 over last - first of its tokens in the window), and
 *   the aggregate is their sum: a batched step delivers n tokens at one instant, and counting
 *   tokens over the window's length would take in or leave out a whole step's tokens at either edge
 *   depending on the order of one step's messages. Prefill and the ramp in and out are outside it,
 *   so it is what n streams decoding together deliver. A window with no tokens (a scheduler that serialises the streams)
 *   falls back to the whole run: all tokens after the first of each stream, over first-first-token
 *   to last-last-token.
 * - TTFT is submit to first token, per stream; the percentile is nearest-rank over all streams.
 */

export interface StreamTrace {
  readonly submittedAt: number;
  readonly tokenTimes: readonly number[];
}

export interface StreamsSummary {
  readonly streams: number;
  readonly tokens: number;
  /** steady-state aggregate decode tokens/s (see the header) */
  readonly decodeTokensPerSecond: number;
  /** "steady" when every stream decoded in the window, "whole-run" for the fallback */
  readonly decodeWindow: "steady" | "whole-run";
  readonly decodeWindowMs: number;
  /** all tokens of all streams over first submit to last token, prefill included */
  readonly totalTokensPerSecond: number;
  readonly ttftMs: { readonly p50: number; readonly p95: number; readonly max: number };
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function first(t: StreamTrace): number {
  return t.tokenTimes[0] ?? Number.POSITIVE_INFINITY;
}
function last(t: StreamTrace): number {
  return t.tokenTimes.at(-1) ?? Number.NEGATIVE_INFINITY;
}

/** Tokens/s of `traces` in the window [from, to): tokens arriving after `from`, up to `to`. */
export function rateInWindow(traces: readonly StreamTrace[], from: number, to: number): number {
  if (!(to > from)) return Number.NaN;
  let tokens = 0;
  for (const t of traces) for (const at of t.tokenTimes) if (at > from && at <= to) tokens++;
  return (tokens * 1000) / (to - from);
}

/**
 * Sum over streams of (tokens in [from, to] - 1) / (their span); NaN when a stream has fewer than two
 * tokens there (the streams did not decode together).
 */
function intervalRate(traces: readonly StreamTrace[], from: number, to: number): number {
  if (!(to > from)) return Number.NaN;
  let rate = 0;
  for (const t of traces) {
    const inside = t.tokenTimes.filter((at) => at >= from && at <= to);
    const span = (inside.at(-1) ?? 0) - (inside[0] ?? 0);
    if (inside.length < 2 || !(span > 0)) return Number.NaN;
    rate += ((inside.length - 1) * 1000) / span;
  }
  return rate;
}

export function summarize(traces: readonly StreamTrace[]): StreamsSummary {
  const tokens = traces.reduce((n, t) => n + t.tokenTimes.length, 0);
  const steadyFrom = Math.max(...traces.map(first));
  const steadyTo = Math.min(...traces.map(last));
  let decodeWindow: StreamsSummary["decodeWindow"] = "steady";
  let from = steadyFrom;
  let to = steadyTo;
  let rate = intervalRate(traces, from, to);
  if (!(rate > 0)) {
    decodeWindow = "whole-run";
    from = Math.min(...traces.map(first));
    to = Math.max(...traces.map(last));
    rate = ((tokens - traces.length) * 1000) / (to - from);
  }
  const submitted = Math.min(...traces.map((t) => t.submittedAt));
  const ttft = traces.filter((t) => t.tokenTimes.length > 0).map((t) => first(t) - t.submittedAt);
  return {
    streams: traces.length,
    tokens,
    decodeTokensPerSecond: rate,
    decodeWindow,
    decodeWindowMs: to - from,
    totalTokensPerSecond: (tokens * 1000) / (Math.max(...traces.map(last)) - submitted),
    ttftMs: { p50: percentile(ttft, 50), p95: percentile(ttft, 95), max: Math.max(...ttft) },
  };
}

/** One round: its streams, and the CPU time of the whole process over it (all threads, user + system). */
export interface Round {
  readonly traces: readonly StreamTrace[];
  readonly cpuMs: number;
}

export interface RoundsSummary extends StreamsSummary {
  readonly rounds: number;
  /** each round's steady-state decode tokens/s, in order */
  readonly roundDecodeTokensPerSecond: readonly number[];
  /**
   * all rounds' tokens over their CPU seconds (prefill included): on an oversubscribed machine the
   * wall clock mostly measures the other processes, CPU time the work (at 2+ threads it also holds
   * the pool's spinning)
   */
  readonly tokensPerCpuSecond: number;
}

/** Times `fn` in CPU milliseconds of this process (every thread). */
export async function withCpuTime<T>(fn: () => Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const start = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(start);
  return { value, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * Several rounds of the same streams: decode and total tokens/s from the fastest round (on a shared
 * machine the one least slowed by others, as bench:e2e's --repeat keeps), TTFT over every stream of
 * every round.
 */
export function summarizeRounds(rounds: readonly Round[]): RoundsSummary {
  const each = rounds.map((r) => summarize(r.traces));
  const best = each.reduce((a, b) => (b.decodeTokensPerSecond > a.decodeTokensPerSecond ? b : a));
  const all = rounds.flatMap((r) => r.traces);
  const ttft = all.filter((t) => t.tokenTimes.length > 0).map((t) => first(t) - t.submittedAt);
  const cpuMs = rounds.reduce((sum, r) => sum + r.cpuMs, 0);
  return {
    ...best,
    ttftMs: { p50: percentile(ttft, 50), p95: percentile(ttft, 95), max: Math.max(...ttft) },
    rounds: rounds.length,
    roundDecodeTokensPerSecond: each.map((s) => s.decodeTokensPerSecond),
    tokensPerCpuSecond: (each.reduce((n, s) => n + s.tokens, 0) * 1000) / cpuMs,
  };
}
