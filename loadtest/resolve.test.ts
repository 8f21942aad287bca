import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../src/config/defaults.js";
import { K6_CONFIG_FILE, k6ConfigText } from "./k6-config.js";
import { resolveProfile } from "./resolve.js";
import { PROFILE_NAMES, SCENARIOS, scenarioFileSchema } from "./scenarios.js";

const tiers = defaultConfig().tiers;

describe("resolveProfile", () => {
  it("takes each tier's TTFT and total SLA from the gateway config as its thresholds", () => {
    for (const name of PROFILE_NAMES) {
      const profile = resolveProfile(name, tiers);
      expect(profile.tiers.map((t) => t.tier)).toEqual(["free", "standard", "premium"]);
      for (const t of profile.tiers) {
        const tier = tiers.find((c) => c.name === t.tier)!;
        expect(t.thresholds.ttftP95Ms).toBe(tier.ttftSlaMs);
        expect(t.thresholds.durationP95Ms).toBe(tier.totalSlaMs);
        expect(t.thresholds.maxDropped).toBe(0);
      }
    }
    // a tier whose SLA changes in the config changes the threshold with it
    const tighter = tiers.map((t) => (t.name === "premium" ? { ...t, ttftSlaMs: 123 } : t));
    expect(resolveProfile("smoke", tighter).tiers.find((t) => t.tier === "premium")?.thresholds.ttftP95Ms).toBe(123);
  });

  it("refuses a scenario the config's tiers cannot hold", () => {
    expect(() =>
      resolveProfile(
        "smoke",
        tiers.filter((t) => t.name !== "premium"),
      ),
    ).toThrow(/tier "premium" is not/);
    const narrow = tiers.map((t) => (t.name === "standard" ? { ...t, maxOutputTokens: 8 } : t));
    expect(() => resolveProfile("smoke", narrow)).toThrow(/standard: max_tokens 24 is over .* 8/);
    // the free tier's 20 requests a minute: full's 0.25/s (15 a minute) and 3 warm-ups fit, 18 a minute would not
    const limited = tiers.map((t) => (t.name === "free" ? { ...t, requestsPerMinute: 17 } : t));
    expect(() => resolveProfile("full", limited)).toThrow(/free: up to 18 requests in a minute/);
  });
});

describe("the scenario file", () => {
  it("is refused with maxVUs below preAllocatedVUs", () => {
    const broken = structuredClone(SCENARIOS);
    broken.profiles.full.tiers[0]!.maxVUs = 1;
    const result = scenarioFileSchema.safeParse(broken);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["profiles", "full", "tiers", 0, "maxVUs"]);
  });

  it("is what the committed k6 scenarios.json says (run `npm run loadtest:k6-config` after a change)", () => {
    expect(readFileSync(K6_CONFIG_FILE, "utf8")).toBe(k6ConfigText(tiers, "<defaults>"));
  });
});
