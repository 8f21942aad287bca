import { existsSync } from "node:fs";
import { afterEach, expect, it, vi } from "vitest";
import { run } from "./main.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void out.push(args.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void err.push(args.join(" ")));
  return { out: () => out.join("\n"), err: () => err.join("\n") };
}

afterEach(() => vi.restoreAllMocks());

it("`tritgate` alone reports the machine and says plainly that it serves nothing", async () => {
  const io = capture();
  expect(await run([])).toBe(0);
  expect(io.out()).toMatch(/kernel isa: (scalar|avx2|avx512)/);
  expect(io.out()).toMatch(/Nothing is being served/);
});

it("`tritgate hw --json` prints the hardware report as JSON", async () => {
  const io = capture();
  expect(await run(["hw", "--json"])).toBe(0);
  const report = JSON.parse(io.out());
  expect(report.available).toContain(report.isa);
  expect(report.threads).toBeGreaterThanOrEqual(1);
  // cache sizes come from sysfs, which some VMs and containers do not expose
  const sysfsCaches = existsSync("/sys/devices/system/cpu/cpu0/cache");
  expect(report.caches.length > 0).toBe(sysfsCaches);
});

it("an unknown command exits 2 with usage", async () => {
  const io = capture();
  expect(await run(["frobnicate"])).toBe(2);
  expect(io.err()).toMatch(/unknown command "frobnicate"/);
  expect(io.err()).toMatch(/usage: tritgate/);
});
