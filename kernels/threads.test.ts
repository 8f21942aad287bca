import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomFloats, rng } from "../test/helpers/random.js";
import {
  hardware,
  matmul,
  matmulAsync,
  poolThreadTasks,
  quantize,
  setActiveThreads,
  setThreads,
  takeMostJobsAtOnce,
} from "./index.js";

const weight = quantize("TQ2_0", randomFloats(512 * 2560, rng(5)), 512, 2560, { absmean: true });

function bytesOf(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

describe("thread pool", () => {
  afterAll(() => {
    setActiveThreads(256);
    setThreads(hardware().physicalCores);
  });

  it("runs a job on n of its threads: the threads at or above n claim none of its tasks, and the bits stay", () => {
    expect(setThreads(4)).toBe(4);
    const x = randomFloats(16 * 2560, rng(12));
    setActiveThreads(4);
    const want = bytesOf(matmul(weight, x, 16));
    for (const n of [1, 2, 3]) {
      expect(setActiveThreads(n)).toBe(n);
      const before = poolThreadTasks();
      for (let i = 0; i < 40; i++) expect(bytesOf(matmul(weight, x, 16))).toBe(want);
      const ran = poolThreadTasks().map((t, thread) => t - before[thread]!);
      expect(ran).toHaveLength(4);
      expect(ran.slice(n)).toEqual(new Array(4 - n).fill(0));
      // the caller takes part in every job, so thread 0 always runs some of them
      expect(ran[0]).toBeGreaterThan(0);
    }
    // more than the pool has is the whole pool
    expect(setActiveThreads(9)).toBe(4);
  });

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

  it("gives the same bits whatever the thread count when the rows do not fill the last task", () => {
    // the last task is short: 1000 rows are not a multiple of the ternary GEMV's task size (a
    // multiple of 16 rows for any thread count), 1003 not of the float path's 4-row passes
    const cases = [
      { weight: quantize("TQ2_0", randomFloats(1000 * 256, rng(8)), 1000, 256, { absmean: true }), k: 256, int8: true },
      { weight: quantize("TQ1_0", randomFloats(1000 * 256, rng(9)), 1000, 256, { absmean: true }), k: 256, int8: true },
      { weight: quantize("F16", randomFloats(1003 * 64, rng(10)), 1003, 64), k: 64, int8: false },
      { weight: quantize("Q8_0", randomFloats(1003 * 64, rng(11)), 1003, 64), k: 64, int8: false },
    ];
    for (const { weight: w, k, int8 } of cases) {
      const x = randomFloats(k, rng(k));
      const results = [1, 2, 3].map((threads) => {
        setThreads(threads);
        const y = matmul(w, x, 1, int8 ? {} : { activations: "float" });
        expect(y.length).toBe(w.rows);
        return bytesOf(y);
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
    // count event-loop turns (setImmediate runs once a turn), not timer ticks: a timer needs a
    // millisecond to pass, which fast kernels on a busy machine need not give it
    let ticks = 0;
    let counting = true;
    const turn = () => {
      ticks++;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    const pending = Array.from({ length: 6 }, () => matmulAsync(weight, x, m));
    const results = await Promise.all(pending);
    counting = false;
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

describe("jobs on their callers", () => {
  afterAll(() => setThreads(hardware().physicalCores));

  it("run at once on a pool of one thread (no lock between callers), and one at a time on a larger pool", async () => {
    // async calls run on libuv's threads: several callers at once, each a job of many tasks
    // each job a few milliseconds, so jobs that may overlap do
    const big = quantize("TQ2_0", randomFloats(4096 * 2560, rng(13)), 4096, 2560, { absmean: true });
    const m = 64;
    const x = randomFloats(m * 2560, rng(12));
    const want = bytesOf(matmul(big, x, m));
    const concurrent = async () => {
      takeMostJobsAtOnce();
      const results = await Promise.all(Array.from({ length: 8 }, () => matmulAsync(big, x, m)));
      for (const y of results) expect(bytesOf(y)).toBe(want);
      return takeMostJobsAtOnce();
    };
    setThreads(1);
    expect(await concurrent()).toBeGreaterThan(1);
    setThreads(2);
    expect(await concurrent()).toBe(1);
  });
});
