import { describe, expect, it } from "vitest";
import { withFileType } from "./file-type.js";
import type { GGUFTensorInput } from "./writer.js";

const tensor = (name: string, type: GGUFTensorInput["type"], dims: number[]): GGUFTensorInput => ({
  name,
  type,
  dims,
  data: new Uint8Array(0),
});
const fileType = (spec: ReturnType<typeof withFileType>) =>
  [...spec.metadata].filter(([key]) => key === "general.file_type").map(([, v]) => v.value);

describe("withFileType", () => {
  it("names the most common matrix type, not the vectors' (norms are F32)", () => {
    const tensors = [
      tensor("token_embd.weight", "F16", [256, 300]),
      tensor("a.weight", "TQ2_0", [256, 256]),
      tensor("b.weight", "TQ2_0", [256, 256]),
      tensor("n1.weight", "F32", [256]),
      tensor("n2.weight", "F32", [256]),
      tensor("n3.weight", "F32", [256, 1]),
    ];
    expect(fileType(withFileType({ metadata: [], tensors }))).toEqual([37]);
  });

  it("replaces a stale value, and drops it for types llama.cpp has no file type for (I2_S)", () => {
    const stale: Array<[string, { type: "u32"; value: number }]> = [["general.file_type", { type: "u32", value: 0 }]];
    expect(fileType(withFileType({ metadata: stale, tensors: [tensor("a", "TQ1_0", [256, 4])] }))).toEqual([36]);
    expect(fileType(withFileType({ metadata: stale, tensors: [tensor("a", "I2_S", [256, 4])] }))).toEqual([]);
  });
});
