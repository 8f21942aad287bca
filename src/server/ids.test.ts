import { describe, expect, it } from "vitest";
import { newId, nowSeconds } from "./ids.js";

describe("newId", () => {
  it("is the prefix and twice `bytes` hex digits, a different one each time, across pool refills", () => {
    const seen = new Set<string>();
    // 4096-byte pool, 16 bytes per id: 1000 ids refill it several times
    for (let i = 0; i < 1000; i++) {
      const id = newId("req_", 16);
      expect(id).toMatch(/^req_[0-9a-f]{32}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
    expect(newId("chatcmpl-")).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(newId("x", 4096)).toHaveLength(1 + 8192);
  });

  it("refuses more random bytes than its pool holds", () => {
    expect(() => newId("x", 4097)).toThrow(RangeError);
  });
});

describe("nowSeconds", () => {
  it("is whole Unix seconds, rounded down", () => {
    expect(nowSeconds(1_700_000_000_999)).toBe(1_700_000_000);
    expect(nowSeconds(0)).toBe(0);
  });
});
