/** Helpers for the metrics tests: promtool, and a recorded request turned into the observer's input. Not exported. */
import { spawnSync } from "node:child_process";

/** Runs `promtool check metrics` over an exposition; throws when promtool is missing. */
export function promtoolCheck(exposition: string): { ok: boolean; output: string } {
  const run = spawnSync("promtool", ["check", "metrics"], { input: exposition, encoding: "utf8" });
  if (run.error) {
    throw new Error(
      `promtool is not installed (${run.error.message}); install Debian's prometheus: apt-get install -y prometheus`,
    );
  }
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a text exposition (enough of the format for the tests: no escaped quotes in values). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) throw new Error(`unparsed exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}
