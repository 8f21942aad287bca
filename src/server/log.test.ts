import { describe, expect, it } from "vitest";
import { createLogger, isLogLevel } from "./log.js";

describe("createLogger", () => {
  it("writes one tagged line per event at or above its level", () => {
    const lines: string[] = [];
    const log = createLogger("warn", (line) => lines.push(line));
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines).toEqual(["[tritgate] warn w", "[tritgate] error e"]);
  });

  it("debug lets everything through", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (line) => lines.push(line));
    for (const level of ["debug", "info", "warn", "error"] as const) log[level](level);
    expect(lines).toHaveLength(4);
  });
});

describe("isLogLevel", () => {
  it("accepts the four level names only", () => {
    for (const level of ["debug", "info", "warn", "error"]) expect(isLogLevel(level)).toBe(true);
    for (const other of [undefined, "", "DEBUG", "trace", "toString"])
      expect(isLogLevel(other), String(other)).toBe(false);
  });
});
