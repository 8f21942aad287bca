/**
 * `tritgate serve` as a user runs it, for tests that need the real process: started from the sources
 * (`--import tsx`, so no build is needed), its output collected, its "serving" line awaited.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

/** the repository root, where `tritgate serve` runs from */
export const ROOT = join(import.meta.dirname, "../..");

export interface ServeProcess {
  readonly child: ChildProcess;
  /** the API's base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** everything it printed so far, stdout and stderr */
  readonly output: () => string;
}

/** Starts `tritgate serve ARGS` and resolves once it prints where it serves (a loaded machine may take a minute). */
export function startServeProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServeProcess> {
  const script = `import("./src/cli/main.ts").then(async (m) => process.exit(await m.run(${JSON.stringify(["serve", ...args])})))`;
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, env, stdio: "pipe" });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start:\n${output}`));
    }, 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /serving (http:\/\/\S+)\/v1/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

/** Resolves with the exit code, or the signal's name when the process died of one. */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
}

/** Polls `probe` every 100 ms until it returns a value. */
export async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
