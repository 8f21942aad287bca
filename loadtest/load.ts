/**
 * The open-loop run: every tier's arrivals fire at their scheduled times whether or not earlier
 * requests have finished (a tier drops an arrival, and counts it, when `maxVUs` of its requests are in
 * flight, as k6's constant-arrival-rate does). Latencies run from the scheduled arrival, not from when
 * the request left: if the client falls behind, that lag counts against the result instead of hiding
 * a queue (coordinated omission).
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { measuredRequest } from "./request.js";
import type { ResolvedProfile } from "./resolve.js";
import { planArrivals } from "./schedule.js";
import { type Sample, summarise, type TierSummary } from "./summary.js";
import { type Breach, breaches } from "./thresholds.js";

export interface LoadTarget {
  readonly url: string;
  /** the API key of a tenant on this tier */
  readonly keyFor: (tier: string) => string;
}

export interface LoadReport {
  readonly profile: string;
  readonly description: string;
  readonly url: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  /** os.loadavg() (1, 5, 15 min) before and after the run: the machine the figures were taken on */
  readonly loadAverage: { readonly before: readonly number[]; readonly after: readonly number[] };
  /** the latest any request left after its scheduled time: how far the client fell behind */
  readonly maxSendLagMs: number;
  readonly tiers: readonly TierSummary[];
  readonly breaches: readonly Breach[];
  readonly passed: boolean;
}

export interface LoadOptions {
  readonly log?: (line: string) => void;
  /** a request still running this long after its arrival is a failure; default 1.5 × the tier's total SLA */
  readonly requestTimeoutMs?: number;
}

export async function runLoad(
  profile: ResolvedProfile,
  target: LoadTarget,
  options: LoadOptions = {},
): Promise<LoadReport> {
  const log = options.log ?? (() => {});
  const timeoutFor = (totalSlaMs: number) => options.requestTimeoutMs ?? Math.ceil(totalSlaMs * 1.5);

  // warm-up: one request at a time per tier, alternating streamed and whole answers; not measured
  for (const tier of profile.tiers)
    for (let i = 0; i < profile.warmupRequestsPerTier; i++) {
      const prompt = profile.prompts[i % profile.prompts.length]!;
      const spec = {
        url: target.url,
        key: target.keyFor(tier.tier),
        prompt,
        stream: i % 2 === 0,
        maxTokens: tier.maxTokens,
        timeoutMs: timeoutFor(tier.thresholds.durationP95Ms),
      };
      const sample = await measuredRequest(spec, performance.now(), () => performance.now());
      if (!sample.ok) throw new Error(`warm-up request for tier ${tier.tier} failed: ${sample.status} ${sample.error}`);
    }
  log(`warm-up done (${profile.warmupRequestsPerTier} per tier); running ${profile.durationSeconds} s open-loop`);

  const before = loadavg();
  const startedAt = new Date().toISOString();
  const start = performance.now();
  const now = () => performance.now() - start;
  let maxSendLagMs = 0;
  const perTier = profile.tiers.map(async (tier, index) => {
    const arrivals = planArrivals(tier, profile.prompts, profile.durationSeconds, profile.seed + index);
    const key = target.keyFor(tier.tier);
    const timeoutMs = timeoutFor(tier.thresholds.durationP95Ms);
    const running: Promise<Sample>[] = [];
    let inFlight = 0;
    let dropped = 0;
    for (const arrival of arrivals) {
      const wait = arrival.offsetMs - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      maxSendLagMs = Math.max(maxSendLagMs, now() - arrival.offsetMs);
      if (inFlight >= tier.maxVUs) {
        dropped++;
        continue;
      }
      inFlight++;
      const spec = {
        url: target.url,
        key,
        prompt: arrival.prompt,
        stream: arrival.stream,
        maxTokens: tier.maxTokens,
        timeoutMs,
      };
      running.push(
        measuredRequest(spec, arrival.offsetMs, now).finally(() => {
          inFlight--;
        }),
      );
    }
    const samples = await Promise.all(running);
    const summary = summarise(tier.tier, samples, dropped, profile.durationSeconds, tier.thresholds);
    return {
      summary,
      found: breaches(
        summary,
        arrivals.some((a) => a.stream),
      ),
    };
  });
  const results = await Promise.all(perTier);
  const tiers = results.map((r) => r.summary);
  const found = results.flatMap((r) => r.found);
  return {
    profile: profile.name,
    description: profile.description,
    url: target.url,
    startedAt,
    durationSeconds: profile.durationSeconds,
    loadAverage: { before, after: loadavg() },
    maxSendLagMs,
    tiers,
    breaches: found,
    passed: found.length === 0,
  };
}
