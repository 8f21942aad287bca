import { describe, expect, it } from "vitest";
import { MemoryRecorder, type RequestRow } from "./recorder.js";

const row = (requestId: string) => ({ requestId }) as RequestRow;

describe("MemoryRecorder", () => {
  it("keeps the latest entries, newest first, within its capacity", () => {
    const recorder = new MemoryRecorder(3);
    expect(recorder.latest()).toEqual([]);
    for (const id of ["a", "b", "c", "d", "e"]) recorder.enqueue(row(id), null);
    expect(recorder.size).toBe(3);
    expect(recorder.latest().map((e) => e.request.requestId)).toEqual(["e", "d", "c"]);
    expect(recorder.latest(2).map((e) => e.request.requestId)).toEqual(["e", "d"]);
  });
});
