import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createKeyRecord,
  generateKey,
  hashesEqual,
  hashKey,
  isWellFormedKey,
  KEY_LENGTH,
  keyPrefix,
  newKeyId,
  verifyKey,
} from "./keys.js";

describe("API keys", () => {
  it("are tg- and 32 url-safe characters, all different", () => {
    const keys = Array.from({ length: 500 }, generateKey);
    for (const key of keys) {
      expect(key).toMatch(/^tg-[A-Za-z0-9_-]{32}$/);
      expect(key).toHaveLength(KEY_LENGTH);
      expect(isWellFormedKey(key)).toBe(true);
    }
    expect(new Set(keys).size).toBe(keys.length);
    // every url-safe character turns up somewhere: the alphabet is base64url, not hex
    const alphabet = new Set(keys.flatMap((k) => [...k.slice(3)]));
    expect(alphabet.size).toBeGreaterThan(60);
  });

  it("rejects malformed keys", () => {
    for (const bad of [
      "",
      "tg-",
      `sk-${"a".repeat(32)}`,
      `tg-${"a".repeat(31)}`,
      `tg-${"a".repeat(33)}`,
      `tg-${"a".repeat(31)}=`,
    ])
      expect(isWellFormedKey(bad)).toBe(false);
  });

  it("hash as lower-case hex SHA-256 of the key", () => {
    expect(hashKey("tg-abc")).toBe(createHash("sha256").update("tg-abc").digest("hex"));
    expect(hashKey("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(hashKey(a)).toMatch(/^[0-9a-f]{64}$/);
        if (a !== b) expect(hashKey(a)).not.toBe(hashKey(b));
      }),
    );
  });

  it("verify against a stored hash; only exact keys match", () => {
    const key = generateKey();
    const hash = hashKey(key);
    expect(verifyKey(key, hash)).toBe(true);
    expect(verifyKey(`${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`, hash)).toBe(false);
    expect(verifyKey(key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase(), hash)).toBe(false);
    expect(hashesEqual(hash, hash.toUpperCase())).toBe(false); // not a stored-hash shape
    expect(hashesEqual(hash, "00")).toBe(false);
  });

  it("show only tg- and 6 characters", () => {
    const key = generateKey();
    expect(keyPrefix(key)).toBe(key.slice(0, 9));
    expect(keyPrefix(key)).toMatch(/^tg-[A-Za-z0-9_-]{6}$/);
  });

  it("make records that hold the hash and prefix, never the key", () => {
    const at = new Date("2026-01-02T03:04:05Z");
    const { key, record } = createKeyRecord("acme", at);
    expect(record).toMatchObject({ tenantId: "acme", hash: hashKey(key), prefix: keyPrefix(key), createdAt: at });
    expect(record.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(JSON.stringify(record)).not.toContain(key);
    expect(JSON.stringify(record)).not.toContain(key.slice(9));
    expect(newKeyId()).not.toBe(newKeyId());
  });
});
