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

/** One variant of `familyConfig`: its name, model file and card rates (tokens/s). */
export interface ConfigVariant {
  readonly name: string;
  readonly path: string;
  readonly prefill: number;
  readonly decode: number;
  readonly coresPerRequest?: number;
}

/**
 * A `tritgate.yaml` for one family served as a BitNet variant and its ONNX reference, one generous
 * tier, one tenant (the demo tenant), loopback on a free port, state under the config's folder.
 */
export function familyConfig(family: string, bitnet: ConfigVariant, onnx: ConfigVariant): string {
  const variant = (v: ConfigVariant, engine: "bitnet" | "onnx", extra: string) =>
    [
      `  - { name: ${v.name}, family: ${family}, engine: ${engine}, path: ${v.path},${extra}`,
      `      card: { prefillTokensPerSecond: ${v.prefill}, decodeTokensPerSecond: ${v.decode} }, slots: 1, pricePerCoreHour: 0.04, wattsPerCore: 10, coresPerRequest: ${v.coresPerRequest ?? 1} }`,
    ].join("\n");
  return [
    "server: { host: 127.0.0.1, port: 0, bodyLimitBytes: 1048576, stateDir: state }",
    "tiers:",
    "  - { name: standard, qualityFloor: 0.1, ttftSlaMs: 60000, totalSlaMs: 600000, allowedVariants: '*',",
    "      onOverload: degrade, maxQueueWaitMs: 1000, priority: 1, strategy: sla, pricePer1kInput: 0,",
    "      pricePer1kOutput: 0, requestsPerMinute: 100, tokensPerMinute: 100000, monthlyTokenBudget: 0,",
    "      maxOutputTokens: 64 }",
    "variants:",
    variant(bitnet, "bitnet", " quality: 0.8,"),
    variant(onnx, "onnx", ""),
    `families: [{ name: ${family}, reference: ${onnx.name} }]`,
    "tenants: [{ id: acme, name: Acme, tier: standard }]",
    "demoTenant: acme",
  ].join("\n");
}
