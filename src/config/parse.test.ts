import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, parseConfig } from "./parse.js";
import { idleUnloadMsOf } from "./variants.js";

/** A small valid config; tests break one thing at a time. */
const GOOD = `server:
  port: 9000
tiers:
  - name: basic
    qualityFloor: 0.2
    ttftSlaMs: 2000
    totalSlaMs: 20000
    allowedVariants: [tiny-b158]
    onOverload: reject
    requestsPerMinute: 10
    tokensPerMinute: 5000
    maxOutputTokens: 256
  - name: pro
    qualityFloor: 0.8
    ttftSlaMs: 500
    totalSlaMs: 5000
    onOverload: queue
    requestsPerMinute: 100
    tokensPerMinute: 50000
    maxOutputTokens: 1024
variants:
  - name: tiny-b158
    family: tiny
    engine: bitnet
    path: models/tiny-b158.gguf
    card: { prefillTokensPerSecond: 1000, decodeTokensPerSecond: 100 }
    pricePerCoreHour: 0.05
    wattsPerCore: 8
  - name: tiny-fp32
    family: tiny
    engine: onnx
    path: /abs/tiny-fp32.onnx
    card: { prefillTokensPerSecond: 300, decodeTokensPerSecond: 30, sha256: abc }
    pricePerCoreHour: 0.05
    wattsPerCore: 8
tenants:
  - id: acme
    name: Acme Corp
    tier: pro
`;

function issuesOf(text: string, file = "tritgate.yaml"): ConfigIssue[] {
  try {
    parseConfig(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).issues];
  }
  throw new Error("expected a ConfigError");
}

/** Line (1-based) and column of the first occurrence of `needle` in `text`. */
function position(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

function replaceOnce(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe("parseConfig", () => {
  it("reads a valid config, filling defaults and expanding *", () => {
    const c = parseConfig(GOOD, "tritgate.yaml");
    expect(c.server).toEqual({
      host: "127.0.0.1",
      port: 9000,
      bodyLimitBytes: 1_048_576,
      drainTimeoutMs: 10_000,
      stateDir: "data",
    });
    expect(c.tiers.map((t) => t.allowedVariants)).toEqual([["tiny-b158"], ["tiny-b158", "tiny-fp32"]]);
    expect(c.tiers[1]).toMatchObject({ strategy: "sla", priority: 0, monthlyTokenBudget: 0, pricePer1kInput: 0 });
    // slots default per engine: a bitnet worker batches its generations, an onnx one runs one at a time
    expect(c.variants[0]).toMatchObject({
      slots: 8,
      coresPerRequest: 1,
      path: "models/tiny-b158.gguf",
    });
    // the worker's defaults apply (the pool's DEFAULT_STEP_TOKEN_BUDGET, DEFAULT_MAX_KV_WAIT_MS, defaultKvTokenBudget)
    expect(c.variants[0]).not.toHaveProperty("stepTokenBudget");
    expect(c.variants[0]).not.toHaveProperty("kvTokenBudget");
    expect(c.variants[0]).not.toHaveProperty("maxKvWaitMs");
    // one worker thread per variant unless it asks for instances
    expect(c.variants[0]).not.toHaveProperty("instances");
    expect(c.variants[1]).toMatchObject({ slots: 1 });
    expect(c.variants[1]?.card).toEqual({ prefillTokensPerSecond: 300, decodeTokensPerSecond: 30, sha256: "abc" });
    expect(c.families).toEqual([{ name: "tiny", reference: "tiny-fp32" }]);
    expect(c.tenants).toEqual([{ id: "acme", name: "Acme Corp", tier: "pro", keys: [] }]);
    expect(c.source).toBe("tritgate.yaml");
  });

  it("reads a variant's instances, a positive count", () => {
    const two = replaceOnce(
      GOOD,
      "    path: models/tiny-b158.gguf\n",
      "    path: models/tiny-b158.gguf\n    instances: 2\n",
    );
    expect(parseConfig(two, "tritgate.yaml").variants[0]?.instances).toBe(2);
    const zero = replaceOnce(
      GOOD,
      "    path: models/tiny-b158.gguf\n",
      "    path: models/tiny-b158.gguf\n    instances: 0\n",
    );
    expect(() => parseConfig(zero, "tritgate.yaml")).toThrow(/instances/);
  });

  it("reads a variant's KV cache type: f16 unless it says f32, and nothing else", () => {
    expect(parseConfig(GOOD, "tritgate.yaml").variants[0]?.kvCacheType).toBe("f16");
    const exact = replaceOnce(
      GOOD,
      "    path: models/tiny-b158.gguf\n",
      "    path: models/tiny-b158.gguf\n    kvCacheType: f32\n",
    );
    expect(parseConfig(exact, "tritgate.yaml").variants[0]?.kvCacheType).toBe("f32");
    const q8 = replaceOnce(
      GOOD,
      "    path: models/tiny-b158.gguf\n",
      "    path: models/tiny-b158.gguf\n    kvCacheType: q8_0\n",
    );
    expect(() => parseConfig(q8, "tritgate.yaml")).toThrow(/kvCacheType/);
  });

  it("reads a tier's response cache (off by default), the cache's one memory bound and its embedding variant", () => {
    const c = parseConfig(GOOD, "tritgate.yaml");
    expect(c.tiers[0]?.responseCache).toEqual({ mode: "off", ttlSeconds: 300, similarity: 0.95, billHits: true });
    expect(c.responseCache).toEqual({ maxBytes: 64 * 1024 * 1024 });
    const on = replaceOnce(
      GOOD,
      "    maxOutputTokens: 1024\n",
      "    maxOutputTokens: 1024\n    responseCache: { mode: exact, ttlSeconds: 60, billHits: false }\n",
    );
    const d = parseConfig(`${on}responseCache: { maxBytes: 1000000 }\n`, "tritgate.yaml");
    expect(d.tiers[1]?.responseCache).toEqual({ mode: "exact", ttlSeconds: 60, similarity: 0.95, billHits: false });
    expect(d.responseCache.maxBytes).toBe(1_000_000);
    const bad = replaceOnce(
      GOOD,
      "    maxOutputTokens: 1024\n",
      "    maxOutputTokens: 1024\n    responseCache: { mode: semantic }\n",
    );
    expect(issuesOf(bad)).toMatchObject([
      { path: "responseCache.embeddingVariant", message: expect.stringContaining('tier "pro" is semantic') },
    ]);
    const onnx = `${bad}responseCache: { embeddingVariant: tiny-fp32 }\n`;
    expect(issuesOf(onnx)).toMatchObject([
      {
        path: "responseCache.embeddingVariant",
        message: 'expected a bitnet variant, got "tiny-fp32" (bitnet variants: "tiny-b158")',
      },
    ]);
    const semantic = parseConfig(`${bad}responseCache: { embeddingVariant: tiny-b158 }\n`, "tritgate.yaml");
    expect(semantic.tiers[1]?.responseCache).toMatchObject({ mode: "semantic", similarity: 0.95 });
    const wrong = replaceOnce(
      GOOD,
      "    maxOutputTokens: 1024\n",
      "    maxOutputTokens: 1024\n    responseCache: { mode: fuzzy }\n",
    );
    expect(issuesOf(wrong)).toMatchObject([
      { path: "tiers[1].responseCache.mode", message: 'expected one of "off", "exact", "semantic", got "fuzzy"' },
    ]);
  });

  it("reads idle unloading: off by default, a global time, a variant's own, and null to keep one loaded", () => {
    const off = parseConfig(GOOD, "a.yaml");
    expect(off.idleUnloadMs).toBeNull();
    expect(off.variants.map((v) => idleUnloadMsOf(off, v))).toEqual([undefined, undefined]);
    const text = `${replaceOnce(GOOD, "    wattsPerCore: 8\n  - name: tiny-fp32", "    wattsPerCore: 8\n    idleUnloadMs: null\n  - name: tiny-fp32")}idleUnloadMs: 600000\n`;
    const on = parseConfig(text, "a.yaml");
    expect(on.variants.map((v) => idleUnloadMsOf(on, v))).toEqual([undefined, 600_000]);
    const own = parseConfig(replaceOnce(text, "idleUnloadMs: null", "idleUnloadMs: 5000"), "a.yaml");
    expect(own.variants.map((v) => idleUnloadMsOf(own, v))).toEqual([5000, 600_000]);
    const [issue] = issuesOf(replaceOnce(text, "idleUnloadMs: null", "idleUnloadMs: -1"));
    expect(issue).toMatchObject({ path: "variants[0].idleUnloadMs", message: "expected a positive integer, got -1" });
  });

  it("resolves relative paths against baseDir, keeping absolute ones", () => {
    const c = parseConfig(GOOD, "/etc/tritgate/tritgate.yaml", { baseDir: "/etc/tritgate" });
    expect(c.variants.map((v) => v.path)).toEqual(["/etc/tritgate/models/tiny-b158.gguf", "/abs/tiny-fp32.onnx"]);
    expect(c.server.stateDir).toBe("/etc/tritgate/data");
  });

  it("reads the same config written as JSON", () => {
    const asJson = JSON.stringify(parseConfig(GOOD, "a.yaml"), (k, v) => (k === "source" ? undefined : v), 2);
    const c = parseConfig(asJson, "tritgate.json");
    expect(c.tiers).toEqual(parseConfig(GOOD, "a.yaml").tiers);
  });

  it("reads the CPU budget: engines take CPU turns unless cpuTurns is false, and threads stays optional", () => {
    const c = parseConfig(GOOD, "tritgate.yaml");
    expect(c.cpuTurns).toBe(true);
    expect(c.threads).toBeUndefined();
    const off = parseConfig(`${GOOD}\ncpuTurns: false\nthreads: 1\n`, "tritgate.yaml");
    expect(off.cpuTurns).toBe(false);
    expect(off.threads).toBe(1);
    const [issue] = issuesOf(`${GOOD}\ncpuTurns: sometimes\n`);
    expect(issue).toMatchObject({ path: "cpuTurns", message: 'expected true or false, got "sometimes"' });
  });

  it("points at a wrongly typed value: file:line:column: path: expected, got", () => {
    const text = replaceOnce(GOOD, "ttftSlaMs: 500", "ttftSlaMs: fast");
    const [issue, ...rest] = issuesOf(text);
    expect(rest).toEqual([]);
    expect(issue).toEqual({
      file: "tritgate.yaml",
      ...position(text, "ttftSlaMs: fast"),
      path: "tiers[1].ttftSlaMs",
      message: 'expected a positive number, got "fast"',
    });
    expect(new ConfigError([issue as ConfigIssue]).message).toBe(
      `tritgate.yaml:${issue?.line}:5: tiers[1].ttftSlaMs: expected a positive number, got "fast"`,
    );
  });

  it("points at out-of-range numbers and bad enum values", () => {
    const text = replaceOnce(
      replaceOnce(GOOD, "qualityFloor: 0.2", "qualityFloor: 1.5"),
      "onOverload: queue",
      "onOverload: wait",
    );
    const issues = issuesOf(text);
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatchObject({
      ...position(text, "qualityFloor: 1.5"),
      path: "tiers[0].qualityFloor",
      message: "expected a number between 0 and 1, got 1.5",
    });
    expect(issues[1]).toMatchObject({
      ...position(text, "onOverload: wait"),
      path: "tiers[1].onOverload",
      message: 'expected one of "degrade", "queue", "reject", got "wait"',
    });
  });

  it("points at an unknown key and suggests the known one", () => {
    const text = replaceOnce(
      GOOD,
      "    wattsPerCore: 8\n  - name: tiny-fp32",
      "    watsPerCore: 8\n  - name: tiny-fp32",
    );
    const issues = issuesOf(text);
    expect(issues).toHaveLength(2);
    expect(issues.find((i) => i.path === "variants[0]")).toMatchObject({
      ...position(text, "watsPerCore"),
      path: "variants[0]",
      message: 'unknown key "watsPerCore" (did you mean "wattsPerCore"?)',
    });
    // the misspelt key also leaves the real one missing, reported at the variant
    expect(issues.find((i) => i.path === "variants[0].wattsPerCore")).toMatchObject({
      ...position(text, "name: tiny-b158"),
      path: "variants[0].wattsPerCore",
      message: "required: expected a number ≥ 0",
    });
  });

  it("names what became of a key earlier configs spelled differently", () => {
    let text = replaceOnce(GOOD, "card: { prefillTokensPerSecond: 1000,", "card: { prefillTokensPerS: 1000,");
    text = replaceOnce(
      text,
      "    pricePerCoreHour: 0.05\n    wattsPerCore: 8\n  - name: tiny-fp32",
      "    costPerCoreHour: 0.05\n    wattsPerCore: 8\n  - name: tiny-fp32",
    );
    text = `${text}defaultFamily: tiny\n`;
    const messages = issuesOf(text).map((i) => `${i.path}: ${i.message}`);
    expect(messages).toEqual([
      'variants[0].pricePerCoreHour: required: expected a number ≥ 0 (written "costPerCoreHour": renamed "pricePerCoreHour")',
      'variants[0].card.prefillTokensPerSecond: required: expected a positive number (written "prefillTokensPerS": renamed "prefillTokensPerSecond")',
      'variants[0]: unknown key "costPerCoreHour" (renamed "pricePerCoreHour")',
      `: unknown key "defaultFamily" (removed: model "auto" routes within the family of the tier's first allowed variant)`,
    ]);
  });

  it("points at a bad item inside a list", () => {
    const text = replaceOnce(GOOD, "allowedVariants: [tiny-b158]", "allowedVariants: [tiny-b158, 42]");
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({ ...position(text, "42"), path: "tiers[0].allowedVariants[1]" }),
    ]);
  });

  it("points at references to tiers and variants that do not exist", () => {
    const text = replaceOnce(
      replaceOnce(GOOD, "    tier: pro\n", "    tier: gold\n"),
      "allowedVariants: [tiny-b158]",
      "allowedVariants: [tiny-b158, tiny-int8]",
    );
    const issues = issuesOf(text);
    expect(issues).toEqual([
      expect.objectContaining({
        ...position(text, "tiny-int8"),
        path: "tiers[0].allowedVariants[1]",
        message: 'unknown variant "tiny-int8" (variants: "tiny-b158", "tiny-fp32")',
      }),
      expect.objectContaining({
        ...position(text, "tier: gold"),
        path: "tenants[0].tier",
        message: 'unknown tier "gold" (tiers: "basic", "pro")',
      }),
    ]);
  });

  it("points at duplicates and at an SLA whose total is under its TTFT", () => {
    const text = replaceOnce(replaceOnce(GOOD, "name: pro", "name: basic"), "totalSlaMs: 20000", "totalSlaMs: 1000");
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.line, i.path, i.message])).toEqual([
      [position(text, "totalSlaMs: 1000").line, "tiers[0].totalSlaMs", "expected at least ttftSlaMs (2000), got 1000"],
      [position(text, "name: basic", 1).line, "tiers[1].name", 'duplicate tier "basic"'],
      [position(text, "tier: pro").line, "tenants[0].tier", 'unknown tier "pro" (tiers: "basic", "basic")'],
    ]);
  });

  it("reports a missing required section at the top", () => {
    const text = GOOD.slice(0, GOOD.indexOf("variants:"));
    expect(issuesOf(text)).toEqual([
      { file: "tritgate.yaml", line: 1, column: 1, path: "variants", message: "required: expected a list of variants" },
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const text = "tiers:\n  - name: a\n    qualityFloor: [0.2\n";
    const [issue] = issuesOf(text);
    expect(issue?.message).toMatch(/^YAML syntax: /);
    expect(issue?.line).toBeGreaterThanOrEqual(3);
  });

  it("reports JSON mistakes with their line too", () => {
    const json = JSON.stringify(JSON.parse(JSON.stringify(parseConfig(GOOD, "x.yaml"))), null, 2).replace(
      '"bodyLimitBytes": 1048576',
      '"bodyLimitBytes": -1',
    );
    const issues = issuesOf(json, "tritgate.json");
    expect(issues.find((i) => i.path === "server.bodyLimitBytes")).toMatchObject({
      file: "tritgate.json",
      ...position(json, '"bodyLimitBytes"'),
      message: "expected a positive integer, got -1",
    });
    expect(issuesOf('{"tiers": [,]}', "t.json")[0]?.message).toMatch(/^JSON syntax: /);
  });

  it("says an empty file is empty", () => {
    expect(issuesOf("")).toEqual([
      { file: "tritgate.yaml", line: 1, column: 1, path: "", message: "expected a mapping (the file is empty)" },
    ]);
  });

  it("validates key entries: hash shape and dates", () => {
    const text = GOOD.replace(
      "    tier: pro\n",
      "    tier: pro\n    keys:\n      - id: k1\n        hash: nothex\n        prefix: tg-abcdef\n        createdAt: yesterday\n",
    );
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.line, i.path])).toEqual([
      [position(text, "hash: nothex").line, "tenants[0].keys[0].hash"],
      [position(text, "createdAt: yesterday").line, "tenants[0].keys[0].createdAt"],
    ]);
  });
});
