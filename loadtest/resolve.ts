/**
 * A profile made concrete against a gateway config's tiers: each tier's thresholds are its SLA
 * (TTFT p95 ≤ `ttftSlaMs`, duration p95 ≤ `totalSlaMs`) plus the scenario's error and degraded budgets
 * and no dropped arrival. Pure: the runner and `k6-config.ts` both call it; neither restates a number.
 */
import type { TierConfig } from "../src/tenants/types.js";
import {
  type Profile,
  type ProfileName,
  type Prompt,
  SCENARIOS,
  type ScenarioFile,
  type TierLoad,
} from "./scenarios.js";

export interface Thresholds {
  readonly ttftP95Ms: number;
  readonly durationP95Ms: number;
  readonly maxErrorRate: number;
  readonly maxDegradedShare: number;
  readonly maxDropped: number;
}

export interface ResolvedTier extends TierLoad {
  readonly thresholds: Thresholds;
}

export interface ResolvedProfile {
  readonly name: ProfileName;
  readonly description: string;
  readonly durationSeconds: number;
  readonly warmupRequestsPerTier: number;
  readonly seed: number;
  readonly prompts: readonly Prompt[];
  readonly tiers: readonly ResolvedTier[];
}

type TierLimits = Pick<
  TierConfig,
  "name" | "ttftSlaMs" | "totalSlaMs" | "maxOutputTokens" | "requestsPerMinute" | "tokensPerMinute"
>;

/** The profile against these tiers; throws naming the tier when the scenario cannot hold against it. */
export function resolveProfile(
  name: ProfileName,
  tiers: readonly TierLimits[],
  scenarios: ScenarioFile = SCENARIOS,
): ResolvedProfile {
  const profile: Profile = scenarios.profiles[name];
  return {
    name,
    description: profile.description,
    durationSeconds: profile.durationSeconds,
    warmupRequestsPerTier: profile.warmupRequestsPerTier,
    seed: profile.seed,
    prompts: scenarios.prompts,
    tiers: profile.tiers.map((load) => {
      const tier = tiers.find((t) => t.name === load.tier);
      if (!tier)
        throw new Error(
          `profile ${name}: tier "${load.tier}" is not in the gateway config (tiers: ${tiers.map((t) => t.name).join(", ")})`,
        );
      if (load.maxTokens > tier.maxOutputTokens)
        throw new Error(
          `profile ${name}: tier ${tier.name}: max_tokens ${load.maxTokens} is over the tier's maxOutputTokens ${tier.maxOutputTokens}`,
        );
      // the limiter counts fixed UTC minutes: the warm-up and one minute of arrivals may share one
      const perMinute = Math.ceil(load.ratePerSecond * 60) + profile.warmupRequestsPerTier;
      if (perMinute > tier.requestsPerMinute)
        throw new Error(
          `profile ${name}: tier ${tier.name}: up to ${perMinute} requests in a minute, over its requestsPerMinute ` +
            `${tier.requestsPerMinute}: the limiter, not the SLA, would be measured`,
        );
      return {
        ...load,
        thresholds: {
          ttftP95Ms: tier.ttftSlaMs,
          durationP95Ms: tier.totalSlaMs,
          maxErrorRate: load.maxErrorRate,
          maxDegradedShare: load.maxDegradedShare,
          maxDropped: 0,
        },
      };
    }),
  };
}
