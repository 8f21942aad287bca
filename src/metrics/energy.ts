/**
 * Energy per request. Where RAPL counters are readable (`/sys/class/powercap/<zone>/energy_uj`;
 * root-only since Linux 5.10, AMD packages since 5.8) the machine's package energy is measured and
 * split by CPU time: a request's share is its CPU-seconds over all CPU-seconds the machine spent in
 * the same interval. Elsewhere a figure is estimated as CPU-seconds × the variant's watts per core.
 * Every figure says which it is.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type EnergySource = "rapl" | "estimate";

export interface EnergyFigure {
  readonly joules: number;
  readonly source: EnergySource;
}

export interface EnergyMeterOptions {
  /** default /sys/class/powercap (tests point it at a temporary directory) */
  readonly powercapDir?: string;
  /** default /proc/stat: where the machine's busy CPU time is read */
  readonly procStat?: string;
  /** clock ticks per second in /proc/stat (USER_HZ, 100 on Linux) */
  readonly ticksPerSecond?: number;
  /** shortest interval between two readings; energy over shorter intervals is too coarse to split */
  readonly minIntervalMs?: number;
  readonly now?: () => number;
}

export interface EnergyMeter {
  /** "rapl" when package counters were readable at start */
  readonly source: EnergySource;
  /** The energy of `cpuSeconds` of work, on a variant drawing `wattsPerCore` when estimated. */
  energyOf(cpuSeconds: number, wattsPerCore: number): EnergyFigure;
}

interface Zone {
  readonly file: string;
  /** the counter wraps past this */
  readonly rangeUj: number;
}

interface Reading {
  readonly atMs: number;
  readonly energyUj: readonly number[];
  readonly busySeconds: number;
}

function readNumber(path: string): number | null {
  try {
    const value = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** Package zones only (`intel-rapl:0`, not its subzones `intel-rapl:0:0`, which the package already counts). */
function packageZones(dir: string): Zone[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const zones: Zone[] = [];
  for (const name of names.filter((n) => /^[a-z-]+:\d+$/.test(n)).sort()) {
    const file = join(dir, name, "energy_uj");
    if (readNumber(file) === null) continue;
    zones.push({ file, rangeUj: readNumber(join(dir, name, "max_energy_range_uj")) ?? Number.MAX_SAFE_INTEGER });
  }
  return zones;
}

/** Busy CPU-seconds of the whole machine: the first `cpu` line of /proc/stat without idle and iowait. */
function busySeconds(procStat: string, ticksPerSecond: number): number | null {
  let text: string;
  try {
    text = readFileSync(procStat, "utf8");
  } catch {
    return null;
  }
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return null;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond;
}

export function createEnergyMeter(options: EnergyMeterOptions = {}): EnergyMeter {
  const dir = options.powercapDir ?? "/sys/class/powercap";
  const procStat = options.procStat ?? "/proc/stat";
  const hz = options.ticksPerSecond ?? 100;
  const minIntervalMs = options.minIntervalMs ?? 1000;
  const now = options.now ?? Date.now;
  const zones = packageZones(dir);
  const canMeasure = zones.length > 0 && busySeconds(procStat, hz) !== null;

  const read = (): Reading | null => {
    const energyUj: number[] = [];
    for (const zone of zones) {
      const value = readNumber(zone.file);
      if (value === null) return null;
      energyUj.push(value);
    }
    const busy = busySeconds(procStat, hz);
    return busy === null ? null : { atMs: now(), energyUj, busySeconds: busy };
  };

  let last = canMeasure ? read() : null;
  /** measured joules per busy CPU-second over the latest interval; null until one has passed */
  let joulesPerCpuSecond: number | null = null;

  const refresh = () => {
    if (!last || now() - last.atMs < minIntervalMs) return;
    const next = read();
    if (!next) return;
    let uj = 0;
    zones.forEach((zone, i) => {
      const delta = next.energyUj[i]! - last!.energyUj[i]!;
      uj += delta >= 0 ? delta : delta + zone.rangeUj;
    });
    const busy = next.busySeconds - last.busySeconds;
    if (busy > 0) joulesPerCpuSecond = uj / 1e6 / busy;
    last = next;
  };

  return {
    source: canMeasure ? "rapl" : "estimate",
    energyOf(cpuSeconds, wattsPerCore) {
      if (canMeasure) {
        refresh();
        if (joulesPerCpuSecond !== null) return { joules: cpuSeconds * joulesPerCpuSecond, source: "rapl" };
      }
      return { joules: cpuSeconds * wattsPerCore, source: "estimate" };
    },
  };
}
