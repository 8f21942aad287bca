import { describe, expect, it } from "vitest";
import { MAX_RANGE_DAYS, parseDayRange } from "./range.js";

const NOW = Date.parse("2026-12-01T15:30:00.000Z");

describe("parseDayRange", () => {
  it("takes both ends as given, inclusive, and defaults to the 30 days ending today", () => {
    expect(parseDayRange("2026-11-01", "2026-11-30", NOW)).toEqual({
      ok: true,
      range: { from: "2026-11-01", to: "2026-11-30" },
    });
    expect(parseDayRange("2026-11-05", "2026-11-05", NOW)).toEqual({
      ok: true,
      range: { from: "2026-11-05", to: "2026-11-05" },
    });
    expect(parseDayRange(undefined, undefined, NOW)).toEqual({
      ok: true,
      range: { from: "2026-11-02", to: "2026-12-01" },
    });
    expect(parseDayRange("2026-02-01", undefined, NOW)).toEqual({
      ok: true,
      range: { from: "2026-02-01", to: "2026-03-02" },
    });
    expect(parseDayRange(undefined, "2024-03-01", NOW)).toEqual({
      ok: true,
      range: { from: "2024-02-01", to: "2024-03-01" },
    });
  });

  it("names the parameter that is not a real UTC day", () => {
    for (const bad of ["2026-02-30", "2026-13-01", "2026-1-01", "20261201", "2026-12-01T00:00:00Z", "", "yesterday"]) {
      expect(parseDayRange(bad, "2026-12-01", NOW)).toMatchObject({ ok: false, param: "from" });
      expect(parseDayRange("2026-11-01", bad, NOW)).toMatchObject({ ok: false, param: "to" });
    }
    expect(parseDayRange("2024-02-29", "2024-02-29", NOW).ok).toBe(true); // a leap day exists
    expect(parseDayRange("2025-02-29", "2025-03-01", NOW)).toMatchObject({ ok: false, param: "from" });
  });

  it("refuses from after to, and ranges longer than the maximum", () => {
    expect(parseDayRange("2026-12-02", "2026-12-01", NOW)).toMatchObject({
      ok: false,
      param: "from",
      message: "from (2026-12-02) is after to (2026-12-01)",
    });
    expect(parseDayRange("2025-01-01", "2026-01-01", NOW)).toMatchObject({ ok: true }); // 366 days
    expect(MAX_RANGE_DAYS).toBe(366);
    expect(parseDayRange("2025-01-01", "2026-01-02", NOW)).toMatchObject({ ok: false, param: "to" });
  });
});
