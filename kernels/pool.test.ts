/**
 * The kernel pool's task hand-out (src/pool.c), driven from C (kernels/pool-stress.c, built here
 * against the pool's source alone): each thread takes its own lane of a job first, and under
 * oversubscription, several callers and changing per-caller thread counts every task runs once.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const KERNELS = fileURLToPath(new URL(".", import.meta.url));
let binary = "";

beforeAll(() => {
  binary = join(mkdtempSync(join(tmpdir(), "tg-pool-")), "pool-stress");
  const cc = process.env.CC ?? "cc";
  const build = spawnSync(
    cc,
    [
      "-O2",
      "-std=c11",
      "-D_GNU_SOURCE",
      join(KERNELS, "pool-stress.c"),
      join(KERNELS, "src/pool.c"),
      "-lpthread",
      "-o",
      binary,
    ],
    { encoding: "utf8" },
  );
  expect(build.status, build.stderr).toBe(0);
}, 60_000);

function run(...args: string[]) {
  return spawnSync(binary, args, { encoding: "utf8", timeout: 120_000 });
}

describe("the kernel pool", () => {
  it("starts each thread on its own lane: the worker runs the first task of its half while the caller is held in its own", () => {
    const r = run("lanes");
    expect(r.stdout.trim(), r.stderr).toBe("lanes ok");
    expect(r.status).toBe(0);
  });

  it("runs every task exactly once with 2 callers on 3 threads and 3 callers on 4, each job on 1..3 threads", () => {
    for (const [threads, callers] of [
      ["3", "2"],
      ["4", "3"],
    ] as const) {
      const r = run("stress", threads, callers);
      expect(r.stdout.trim(), r.stderr).toBe("stress ok");
      expect(r.status).toBe(0);
    }
  }, 120_000);
});
