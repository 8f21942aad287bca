/** The cache key as a pure function: what is in it, what is not, and canonical JSON. */
import { describe, expect, it } from "vitest";
import { tierConfig } from "../testkit.js";
import { canonicalJson } from "./canonical.js";
import { isDeterministic, type KeyInput, NOT_IN_KEY, responseKey } from "./key.js";

const tier = tierConfig({ name: "standard" });
const input = (over: Partial<KeyInput> = {}): KeyInput => ({
  tenantId: "acme",
  tier,
  endpoint: "chat.completions",
  body: { model: "m", messages: [{ role: "user", content: "hi" }], temperature: 0 },
  hints: { quality: undefined, slaMs: undefined },
  ...over,
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and leaves undefined members out; arrays keep their order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
  });
});

describe("responseKey", () => {
  it("is a hex SHA-256, the same for the same request written in another key order", () => {
    const key = responseKey(input());
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const reordered = { temperature: 0, messages: [{ content: "hi", role: "user" }], model: "m" };
    expect(responseKey(input({ body: reordered }))).toBe(key);
  });

  it("differs by tenant, tier (any field of it), endpoint and hints", () => {
    const key = responseKey(input());
    expect(responseKey(input({ tenantId: "globex" }))).not.toBe(key);
    expect(responseKey(input({ tier: tierConfig({ name: "standard", maxOutputTokens: 64 }) }))).not.toBe(key);
    expect(responseKey(input({ endpoint: "completions" }))).not.toBe(key);
    expect(responseKey(input({ hints: { quality: "0.9", slaMs: undefined } }))).not.toBe(key);
  });

  it("leaves out delivery and ignored fields, and top-level nulls; keeps every other field", () => {
    const key = responseKey(input());
    const base = input().body as Record<string, unknown>;
    for (const name of NOT_IN_KEY) expect(responseKey(input({ body: { ...base, [name]: "x" } })), name).toBe(key);
    expect(responseKey(input({ body: { ...base, seed: null } }))).toBe(key);
    for (const extra of [{ seed: 1 }, { some_future_field: true }, { stop: ["\n"] }, { n: 2 }]) {
      expect(responseKey(input({ body: { ...base, ...extra } })), JSON.stringify(extra)).not.toBe(key);
    }
  });
});

describe("isDeterministic", () => {
  it("temperature 0, top_p 0 or a seed; not the default temperature", () => {
    expect(isDeterministic({ temperature: 0 })).toBe(true);
    expect(isDeterministic({ top_p: 0, temperature: 1 })).toBe(true);
    expect(isDeterministic({ seed: 0, temperature: 1.3 })).toBe(true);
    expect(isDeterministic({})).toBe(false);
    expect(isDeterministic({ temperature: 0.01, seed: null })).toBe(false);
  });
});
