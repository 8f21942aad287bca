/** What the operating system says about this machine: CPU model, cores, caches. */
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

export interface CacheInfo {
  readonly level: number;
  readonly type: string;
  readonly bytes: number;
}

export interface HostInfo {
  readonly cpuModel: string;
  readonly logicalCpus: number;
  readonly caches: readonly CacheInfo[];
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** "48K" / "1024K" / "32M" as sysfs writes them. */
function parseSize(text: string): number {
  const match = /^(\d+)([KMG]?)$/.exec(text);
  if (!match) return 0;
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2] as "" | "K" | "M" | "G"];
  return Number(match[1]) * unit;
}

/** Per-core caches of cpu0 (L3 is shared; sysfs reports the slice cpu0 sees). */
function readCaches(): CacheInfo[] {
  const base = "/sys/devices/system/cpu/cpu0/cache";
  let entries: string[];
  try {
    entries = readdirSync(base).filter((name) => name.startsWith("index"));
  } catch {
    return [];
  }
  const caches: CacheInfo[] = [];
  for (const entry of entries) {
    const level = Number(readText(`${base}/${entry}/level`));
    const type = readText(`${base}/${entry}/type`) ?? "Unknown";
    const bytes = parseSize(readText(`${base}/${entry}/size`) ?? "");
    if (level > 0 && bytes > 0 && type !== "Instruction") caches.push({ level, type, bytes });
  }
  return caches.sort((a, b) => a.level - b.level);
}

export function readHostInfo(): HostInfo {
  const list = cpus();
  return { cpuModel: list[0]?.model ?? "unknown", logicalCpus: list.length, caches: readCaches() };
}
