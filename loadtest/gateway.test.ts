import { describe, expect, it } from "vitest";
import { defaultConfig } from "../src/config/defaults.js";
import { parseConfig } from "../src/config/parse.js";
import { hashKey, isWellFormedKey } from "../src/tenants/keys.js";
import { loadtestConfig } from "./gateway.js";

describe("the config the runner's own gateway serves", () => {
  it("is a valid gateway config with the same tiers and one tenant per tier whose key only the runner holds", () => {
    const config = defaultConfig();
    const { file, keys } = loadtestConfig(config, "/tmp/state");
    const text = JSON.stringify(file);
    const served = parseConfig(text, "loadtest.json");
    expect(served.tiers).toEqual(config.tiers);
    expect(served.server.port).toBe(0);
    expect(served.server.stateDir).toBe("/tmp/state");
    expect(served.demoTenant).toBeUndefined();
    expect(served.variants.every((v) => v.path.startsWith("/"))).toBe(true);
    for (const tier of config.tiers) {
      const key = keys.get(tier.name)!;
      expect(isWellFormedKey(key)).toBe(true);
      expect(text).not.toContain(key);
      const tenant = served.tenants.find((t) => t.id === `loadtest-${tier.name}`);
      expect(tenant?.tier).toBe(tier.name);
      expect(tenant?.keys.map((k) => k.hash)).toEqual([hashKey(key)]);
    }
    // a fresh key each time: two runs never share one
    expect(loadtestConfig(config, "/tmp/state").keys.get("free")).not.toBe(keys.get("free"));
  });
});
