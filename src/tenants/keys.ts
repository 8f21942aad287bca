/**
 * API keys: `tg-` + 32 url-safe random characters (24 random bytes, base64url). Only the SHA-256 hash
 * (hex) of a key is ever stored; the first characters (`tg-` + 6) are kept for display and audit.
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiKeyRecord } from "./types.js";

export const KEY_PREFIX = "tg-";
/** Random characters after `tg-`. */
export const KEY_RANDOM_CHARS = 32;
export const KEY_LENGTH = KEY_PREFIX.length + KEY_RANDOM_CHARS;
/** `tg-` + 6 characters. */
export const DISPLAY_PREFIX_LENGTH = KEY_PREFIX.length + 6;

const KEY_PATTERN = /^tg-[A-Za-z0-9_-]{32}$/;
const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** A new plain key. Show it once; store `hashKey(key)`. */
export function generateKey(): string {
  // 24 bytes → exactly 32 base64url characters, no padding
  return KEY_PREFIX + randomBytes(24).toString("base64url");
}

/** Whether `key` has the shape `generateKey` produces. */
export function isWellFormedKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

export function isKeyHash(hash: string): boolean {
  return HASH_PATTERN.test(hash);
}

/** Lower-case hex SHA-256 of the key's UTF-8 bytes. */
export function hashKey(key: string): string {
  // the one-shot hash: it runs on every authenticated request, and costs a third less than createHash
  return hash("sha256", key, "hex");
}

/** What may be shown of a key: `tg-` + its first 6 random characters. */
export function keyPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** Constant-time check of a plain key against a stored hash. */
export function verifyKey(key: string, hash: string): boolean {
  return hashesEqual(hashKey(key), hash);
}

/** Constant-time comparison of two hex hashes (false when either is not a SHA-256 hex string). */
export function hashesEqual(a: string, b: string): boolean {
  if (!isKeyHash(a) || !isKeyHash(b)) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

/** A key id: `key_` + 16 hex characters; safe to log and to pass on a command line. */
export function newKeyId(): string {
  return `key_${randomBytes(8).toString("hex")}`;
}

/** A new key for a tenant and the record to store for it. The plain key exists only in the return value. */
export function createKeyRecord(
  tenantId: string,
  createdAt: Date = new Date(),
): { readonly key: string; readonly record: ApiKeyRecord } {
  const key = generateKey();
  return { key, record: { id: newKeyId(), tenantId, hash: hashKey(key), prefix: keyPrefix(key), createdAt } };
}
