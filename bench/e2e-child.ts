/** One bench/e2e-run.ts measurement in a child process of its own (so RSS and threads are its own). */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** What bench/e2e-run.ts prints. */
export interface E2ERun {
  threads: number;
  loadMs: number;
  fileBytes: number;
  rssBefore: number;
  rssAfterLoad: number;
  rssPeak: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

/** Which runner measures: ours (bench/e2e-run.ts) or the llama.cpp anchor (bench/e2e-llama-run.ts). */
export type Runner = "tritgate" | "llama.cpp";

const RUNNERS: Record<Runner, string> = { tritgate: "e2e-run.ts", "llama.cpp": "e2e-llama-run.ts" };

export function measureInChild(
  model: string,
  threads: number,
  runner: Runner = "tritgate",
  extra: string[] = [],
): E2ERun {
  const out = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, RUNNERS[runner]),
      "--model",
      model,
      "--threads",
      String(threads),
      ...extra,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as E2ERun;
}
