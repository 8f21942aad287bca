/** `tritgate hw [--json]`: what the kernels see on this machine and which path they chose. */
import { type HardwareReport, hardware } from "../../../kernels/index.js";
import type { Command } from "../command.js";

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(bytes % (1 << 20) ? 1 : 0)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

export function formatHardware(hw: HardwareReport): string {
  const features = Object.entries(hw.features)
    .map(([name, on]) => `${name}${on ? "" : " (no)"}`)
    .join(", ");
  const caches = hw.caches.map((c) => `L${c.level}${c.type === "Data" ? "d" : ""} ${formatBytes(c.bytes)}`).join(", ");
  return [
    `cpu:        ${hw.cpuModel}`,
    `cores:      ${hw.physicalCores} physical, ${hw.logicalCpus} logical`,
    `caches:     ${caches || "unknown"} (per core; L3 may be shared)`,
    `features:   ${features}`,
    `paths:      ${hw.available.join(", ")}`,
    `kernel isa: ${hw.isa}${process.env.TRITGATE_ISA ? " (forced by TRITGATE_ISA)" : " (best available)"}`,
    `threads:    ${hw.threads}${process.env.TRITGATE_THREADS ? " (TRITGATE_THREADS)" : " (one per physical core)"}`,
  ].join("\n");
}

export const hwCommand: Command = {
  name: "hw",
  summary: "show CPU features, cores, caches and the kernel path in use (--json for machines)",
  async run(args) {
    let hw: HardwareReport;
    try {
      hw = hardware();
    } catch (error) {
      console.error(`tritgate: ${(error as Error).message}`);
      return 1;
    }
    console.log(args.includes("--json") ? JSON.stringify(hw, null, 2) : formatHardware(hw));
    return 0;
  },
};
