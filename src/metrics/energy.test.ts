import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEnergyMeter } from "./energy.js";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A temporary directory standing in for /sys/class/powercap and /proc/stat. */
function fakeMachine(zones: Record<string, number>) {
  const root = mkdtempSync(join(tmpdir(), "tg-energy-"));
  roots.push(root);
  const powercap = join(root, "powercap");
  mkdirSync(powercap);
  const setZone = (name: string, uj: number, range?: number) => {
    mkdirSync(join(powercap, name), { recursive: true });
    writeFileSync(join(powercap, name, "energy_uj"), `${uj}\n`);
    if (range !== undefined) writeFileSync(join(powercap, name, "max_energy_range_uj"), `${range}\n`);
  };
  for (const [name, uj] of Object.entries(zones)) setZone(name, uj);
  const procStat = join(root, "stat");
  /** busy ticks (USER_HZ = 100) split over user and system, with idle and iowait that must not count */
  const setBusy = (ticks: number) =>
    writeFileSync(procStat, `cpu  ${ticks / 2} 0 ${ticks / 2} 99999 555 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n`);
  setBusy(0);
  let clock = 0;
  return { powercap, procStat, setZone, setBusy, advance: (ms: number) => (clock += ms), now: () => clock };
}

describe("createEnergyMeter", () => {
  it("estimates CPU-seconds × watts per core when no RAPL counter is readable", () => {
    const m = fakeMachine({});
    const meter = createEnergyMeter({ powercapDir: m.powercap, procStat: m.procStat, now: m.now });
    expect(meter.source).toBe("estimate");
    expect(meter.energyOf(2, 10)).toEqual({ joules: 20, source: "estimate" });
  });

  it("splits measured package energy by CPU time, counting packages but not their subzones", () => {
    const m = fakeMachine({ "intel-rapl:0": 1_000_000, "intel-rapl:1": 5_000_000, "intel-rapl:0:0": 7 });
    const meter = createEnergyMeter({ powercapDir: m.powercap, procStat: m.procStat, now: m.now });
    expect(meter.source).toBe("rapl");
    // before one interval has passed there is no measured rate: the figure says it is an estimate
    expect(meter.energyOf(1, 10)).toEqual({ joules: 10, source: "estimate" });

    // 2 s later: packages used 30 J + 50 J while the machine was busy 4 CPU-seconds → 20 J per CPU-second
    m.advance(2000);
    m.setZone("intel-rapl:0", 31_000_000);
    m.setZone("intel-rapl:1", 55_000_000);
    m.setZone("intel-rapl:0:0", 999_000_000);
    m.setBusy(400);
    expect(meter.energyOf(0.5, 10)).toEqual({ joules: 10, source: "rapl" });
  });

  it("reads across a counter wrap using max_energy_range_uj", () => {
    const m = fakeMachine({});
    m.setZone("intel-rapl:0", 900_000_000, 1_000_000_000);
    const meter = createEnergyMeter({ powercapDir: m.powercap, procStat: m.procStat, now: m.now });
    m.advance(1000);
    // wrapped: 100 J to the top, then 20 J
    m.setZone("intel-rapl:0", 20_000_000, 1_000_000_000);
    m.setBusy(200);
    expect(meter.energyOf(1, 10)).toEqual({ joules: 60, source: "rapl" });
  });

  it("falls back to the estimate when the counter stops being readable", () => {
    const m = fakeMachine({ "intel-rapl:0": 0 });
    const meter = createEnergyMeter({ powercapDir: m.powercap, procStat: m.procStat, now: m.now });
    writeFileSync(join(m.powercap, "intel-rapl:0", "energy_uj"), "permission denied\n");
    m.advance(5000);
    expect(meter.energyOf(1, 7)).toEqual({ joules: 7, source: "estimate" });
  });
});
