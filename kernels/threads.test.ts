import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import { hardware, matmul, matmulAsync, quantize, setThreads } from "./index.js";

const weight = quantize("TQ2_0", randomFloats(512 * 2560, rng(5)), 512, 2560, { absmean: true });

function bytesOf(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

describe("thread pool", () => {
  afterAll(() => setThreads(hardware().physicalCores));

  it("gives the same bits with 1, 2 and 3 threads, for M = 1 and M > 1", () => {
    for (const m of [1, 16]) {
      const x = randomFloats(m * 2560, rng(m));
      const results = [1, 2, 3].map((threads) => {
        expect(setThreads(threads)).toBe(threads);
        expect(hardware().threads).toBe(threads);
        return bytesOf(matmul(weight, x, m));
      });
      expect(new Set(results).size).toBe(1);
    }
  });

  it("writes into a caller's buffer when given one", () => {
    const x = randomFloats(2 * 2560, rng(6));
    const out = new Float32Array(2 * 512);
    expect(matmul(weight, x, 2, { out })).toBe(out);
    expect(bytesOf(out)).toBe(bytesOf(matmul(weight, x, 2)));
  });
});

describe("async entry", () => {
  it("resolves with the sync result while the event loop keeps turning", async () => {
    const m = 64;
    const x = randomFloats(m * 2560, rng(7));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const pending = Array.from({ length: 6 }, () => matmulAsync(weight, x, m));
    const results = await Promise.all(pending);
    clearInterval(ticker);
    const want = bytesOf(matmul(weight, x, m));
    for (const y of results) expect(bytesOf(y)).toBe(want);
    expect(ticks).toBeGreaterThan(0);
  });

  it("rejects bad input instead of throwing synchronously", async () => {
    await expect(matmulAsync(weight, new Float32Array(3), 1)).rejects.toThrow(/^x: /);
  });
});

describe("environment", () => {
  const entry = fileURLToPath(new URL("./index.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
  function report(env: Record<string, string>) {
    const script = `import { hardware } from ${JSON.stringify(entry)}; try { console.log(JSON.stringify(hardware())); } catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
    const run = spawnSync(process.execPath, [tsx, "--eval", script], {
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}");
  }

  it("TRITGATE_ISA forces the path and TRITGATE_THREADS sizes the pool", () => {
    const forced = report({ TRITGATE_ISA: "scalar", TRITGATE_THREADS: "1" });
    expect(forced.isa).toBe("scalar");
    expect(forced.threads).toBe(1);
    for (const isa of hardware().available) expect(report({ TRITGATE_ISA: isa }).isa).toBe(isa);
  });

  it("an unknown TRITGATE_ISA is a clear error, not a silent fallback", () => {
    expect(report({ TRITGATE_ISA: "neon" }).error).toMatch(/TRITGATE_ISA=neon/);
  });

  it("reports the machine", () => {
    const hw = hardware();
    expect(hw.physicalCores).toBeGreaterThanOrEqual(1);
    expect(hw.logicalCpus).toBeGreaterThanOrEqual(hw.physicalCores);
    expect(hw.available).toContain(hw.isa);
    expect(typeof hw.features.avx2).toBe("boolean");
  });
});
