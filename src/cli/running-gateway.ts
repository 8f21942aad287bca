/**
 * `<stateDir>/gateway.json`: which process serves from this state directory, and where. PGlite is one
 * process's database, so a command that would open the embedded database (`tritgate keys`, `migrate`,
 * a second `serve`) first asks whether a live gateway holds it. A file left by a killed gateway names a
 * process that no longer exists and is ignored.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

export const RUNNING_FILE = "gateway.json";

const runningSchema = z.object({ pid: z.number().int().positive(), url: z.string().optional() });
export type RunningGateway = z.output<typeof runningSchema>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The live gateway serving from `stateDir` (not this process), if any. */
export function runningGateway(stateDir: string): RunningGateway | undefined {
  let parsed: RunningGateway;
  try {
    parsed = runningSchema.parse(JSON.parse(readFileSync(join(stateDir, RUNNING_FILE), "utf8")));
  } catch {
    return undefined;
  }
  return parsed.pid !== process.pid && alive(parsed.pid) ? parsed : undefined;
}

/** Claims the state directory for this process (again, with its URL, once it listens). */
export function markRunning(stateDir: string, url?: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, RUNNING_FILE), `${JSON.stringify({ pid: process.pid, ...(url ? { url } : {}) })}\n`, {
    mode: 0o600,
  });
}

/** Releases the claim, if it is still this process's. */
export function unmarkRunning(stateDir: string): void {
  const path = join(stateDir, RUNNING_FILE);
  try {
    if (runningSchema.parse(JSON.parse(readFileSync(path, "utf8"))).pid === process.pid) rmSync(path);
  } catch {
    // not there, or not ours: nothing to release
  }
}
