import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTenantDirectory } from "../tenants/directory.js";
import { DEFAULT_CONFIG_YAML, defaultConfig } from "./defaults.js";
import { loadConfig } from "./load.js";
import { ConfigError } from "./parse.js";
import { resolveStateDir } from "./state.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `tg-${name}-`));

describe("default config", () => {
  it("is valid and has free, standard and premium tiers that differ as documented", () => {
    const c = defaultConfig();
    expect(c.source).toBe("<defaults>");
    const [free, standard, premium] = c.tiers;
    expect(c.tiers.map((t) => t.name)).toEqual(["free", "standard", "premium"]);
    expect(free).toMatchObject({ onOverload: "reject", allowedVariants: ["nano-b158"] });
    expect(standard?.onOverload).toBe("degrade");
    expect(premium).toMatchObject({ onOverload: "queue", allowedVariants: ["nano-b158", "nano-fp32"] });
    if (!free || !standard || !premium) throw new Error("tiers missing");
    // every allowed variant of the free tier is ternary
    for (const name of free.allowedVariants) expect(c.variants.find((v) => v.name === name)?.engine).toBe("bitnet");
    // higher tiers: higher floor, tighter SLA, more room, higher price
    expect(free.qualityFloor).toBeLessThan(standard.qualityFloor);
    expect(standard.qualityFloor).toBeLessThan(premium.qualityFloor);
    expect(free.ttftSlaMs).toBeGreaterThan(standard.ttftSlaMs);
    expect(standard.ttftSlaMs).toBeGreaterThan(premium.ttftSlaMs);
    expect(free.requestsPerMinute).toBeLessThan(standard.requestsPerMinute);
    expect(free.tokensPerMinute).toBeLessThan(standard.tokensPerMinute);
    expect(free.monthlyTokenBudget).toBeGreaterThan(0);
    expect(free.pricePer1kOutput).toBeLessThan(standard.pricePer1kOutput);
    expect(standard.pricePer1kOutput).toBeLessThan(premium.pricePer1kOutput);
    expect(premium.priority).toBeGreaterThan(standard.priority);
  });

  it("has the nano variants (files need not exist yet) and a demo tenant", () => {
    const c = defaultConfig();
    expect(c.variants.map((v) => [v.name, v.engine, v.path])).toEqual([
      ["nano-b158", "bitnet", "models/nano/nano-b158/model.gguf"],
      ["nano-fp32", "onnx", "models/nano/nano-fp32/model.onnx"],
    ]);
    expect(c.families).toEqual([{ name: "nano", reference: "nano-fp32" }]);
    expect(c.demoTenant).toBe("demo");
    expect(c.tenants.find((t) => t.id === "demo")?.tier).toBe("standard");
    expect(() => createTenantDirectory(c)).not.toThrow();
  });

  it("returns an independent copy each time", () => {
    const a = defaultConfig();
    (a.tiers as unknown[]).length = 0;
    expect(defaultConfig().tiers).toHaveLength(3);
  });
});

describe("loadConfig", () => {
  it("falls back to the defaults when no file is named or found", () => {
    expect(loadConfig(undefined, {}).source).toBe("<defaults>");
  });

  it("reads TRITGATE_CONFIG or the path given, resolving paths against the file's directory", () => {
    const dir = tmp("cfg");
    const file = join(dir, "gw.yaml");
    writeFileSync(file, DEFAULT_CONFIG_YAML.replace("port: 8080", "port: 9999"));
    for (const c of [loadConfig(file, {}), loadConfig(undefined, { TRITGATE_CONFIG: file })]) {
      expect(c.server.port).toBe(9999);
      expect(c.source).toBe(file);
      expect(c.variants[0]?.path).toBe(join(dir, "models/nano/nano-b158/model.gguf"));
      expect(c.server.stateDir).toBe(join(dir, "data"));
    }
  });

  it("names the file in errors", () => {
    const file = join(tmp("bad"), "gw.yaml");
    writeFileSync(file, DEFAULT_CONFIG_YAML.replace("port: 8080", "port: 99999"));
    expect(() => loadConfig(file, {})).toThrow(ConfigError);
    expect(() => loadConfig(file, {})).toThrow(`${file}:4:3: server.port: expected a port number (0–65535), got 99999`);
    expect(() => loadConfig(join(tmp("none"), "missing.yaml"), {})).toThrow(/cannot read config file/);
  });

  it("picks the state dir: explicit, then TRITGATE_STATE_DIR, then the config", () => {
    const c = defaultConfig();
    expect(resolveStateDir(c, "/x", { TRITGATE_STATE_DIR: "/y" })).toBe("/x");
    expect(resolveStateDir(c, undefined, { TRITGATE_STATE_DIR: "/y" })).toBe("/y");
    expect(resolveStateDir(c, undefined, {})).toBe("data");
  });
});

describe("variants in router terms", () => {
  it("carry the router's card rates and map cost parameters", async () => {
    const { variantCost } = await import("./variants.js");
    const fp32 = defaultConfig().variants[1];
    if (!fp32) throw new Error("no fp32 variant");
    expect(fp32.card).toEqual({ prefillTokensPerSecond: 3800, decodeTokensPerSecond: 450 });
    expect(variantCost(fp32)).toEqual({ pricePerCoreHour: 0.04, wattsPerCore: 10, coresPerRequest: 1 });
  });
});
