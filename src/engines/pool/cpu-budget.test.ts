import { describe, expect, it } from "vitest";
import { coresWanted, engineOfPath, engineThreads, grantCores } from "./cpu-budget.js";

describe("CPU budget arithmetic", () => {
  const elastic = { cores: 4, elastic: true };
  const fixed = { cores: 2, elastic: false };

  it("an elastic seat takes what is free, up to its threads, and waits only when nothing is", () => {
    expect(grantCores(elastic, 4, 0)).toBe(4);
    expect(grantCores(elastic, 6, 0)).toBe(4);
    expect(grantCores(elastic, 3, 0)).toBe(3);
    expect(grantCores(elastic, 1, 0)).toBe(1);
    expect(grantCores(elastic, 0, 0)).toBe(0);
  });

  it("an elastic seat leaves other busy seats what they need between their steps, down to its own one core", () => {
    expect(grantCores(elastic, 4, 0, 1)).toBe(3);
    expect(grantCores(elastic, 2, 0, 1)).toBe(1);
    // more busy seats than cores: each still computes on one, never waits for a core that is free
    expect(grantCores(elastic, 2, 0, 3)).toBe(1);
    expect(grantCores(elastic, 0, 0, 1)).toBe(0);
    // a fixed seat takes its cores regardless (the others lease theirs while busy)
    expect(grantCores(fixed, 2, 0, 1)).toBe(2);
  });

  it("a fixed seat takes all its cores or none", () => {
    expect(grantCores(fixed, 4, 0)).toBe(2);
    expect(grantCores(fixed, 2, 0)).toBe(2);
    expect(grantCores(fixed, 1, 0)).toBe(0);
  });

  it("nobody takes what the seats waiting ahead still need", () => {
    // an ONNX seat waiting for 1 of 2 free cores leaves the kernels' pool the other one
    expect(grantCores({ cores: 2, elastic: true }, 2, 1)).toBe(1);
    // a seat waiting for every core is not overtaken by a smaller one
    expect(grantCores({ cores: 1, elastic: false }, 1, 2)).toBe(0);
    expect(grantCores(elastic, 2, 2)).toBe(0);
  });

  it("a waiting seat needs one core if elastic, all its own if fixed", () => {
    expect(coresWanted(elastic)).toBe(1);
    expect(coresWanted(fixed)).toBe(2);
  });

  it("sizes each engine from the one budget: BitNet gets it all, ONNX half beside BitNet and all alone", () => {
    expect(engineThreads(2, "bitnet", true)).toBe(2);
    expect(engineThreads(2, "onnx", true)).toBe(1);
    expect(engineThreads(2, "onnx", false)).toBe(2);
    expect(engineThreads(8, "onnx", true)).toBe(4);
    expect(engineThreads(3, "onnx", true)).toBe(1);
    // never 0, and an engine's own setting wins within the budget
    expect(engineThreads(1, "onnx", true)).toBe(1);
    expect(engineThreads(4, "onnx", true, 3)).toBe(3);
    expect(engineThreads(4, "onnx", true, 9)).toBe(4);
  });

  it("reads the engine off the file, as the loader does", () => {
    expect(engineOfPath("m/model.gguf")).toBe("bitnet");
    expect(engineOfPath("m/model.onnx")).toBe("onnx");
  });
});
