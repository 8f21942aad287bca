/** Timing and reporting helpers shared by the `npm run bench:*` scripts. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface Timing {
  /** milliseconds */
  readonly median: number;
  readonly min: number;
  readonly runs: number;
}

/**
 * Calls fn repeatedly (after warm-up) until `budgetMs` has passed and at least `minRuns` calls
 * were timed; reports the median, which shrugs off the noise of a shared machine.
 */
export async function timeCalls(
  fn: () => unknown,
  options: { budgetMs?: number; minRuns?: number; maxRuns?: number } = {},
): Promise<Timing> {
  const { budgetMs = 400, minRuns = 5, maxRuns = 2000 } = options;
  for (let i = 0; i < 2; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxRuns && (samples.length < minRuns || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const median = samples.length % 2 ? samples[mid]! : (samples[mid - 1]! + samples[mid]!) / 2;
  return { median, min: samples[0]!, runs: samples.length };
}

/** `--flag value` lookup in process.argv. */
export function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
}

export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(headers), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
