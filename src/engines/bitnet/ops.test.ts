/**
 * RoPE's angle table: whatever order positions are asked for in, and however far the table has to
 * grow, each row holds exactly Math.cos / Math.sin of position x base^(-2i/ropeDim), the values the
 * forward pass computed directly before the table.
 */
import { describe, expect, it } from "vitest";
import { Rope } from "./ops.js";

function direct(position: number, ropeDim: number, base: number): number[] {
  return Array.from({ length: ropeDim / 2 }, (_, i) => {
    const angle = position * base ** ((-2 * i) / ropeDim);
    return [Math.cos(angle), Math.sin(angle)];
  }).flat();
}

describe("Rope.angles", () => {
  it("gives each row the direct cos and sin, across growth and out of order", () => {
    const rope = new Rope(32, 32, 10000);
    for (const positions of [[3], [0, 1, 2], [70, 5, 70], [1000, 64, 999], [2]]) {
      const got = rope.angles(positions);
      expect(got.length).toBe(positions.length * 32);
      const want = positions.flatMap((p) => direct(p, 32, 10000));
      expect(Array.from(got)).toEqual(want);
    }
  });

  it("a partial rotary dimension has ropeDim/2 pairs a row", () => {
    const rope = new Rope(64, 16, 500000);
    expect(Array.from(rope.angles([9, 4]))).toEqual([...direct(9, 16, 500000), ...direct(4, 16, 500000)]);
  });
});
