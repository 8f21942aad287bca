/**
 * The first run as a user meets it: the real `bin/tritgate.js` (over dist/, built here first) as a child
 * process. A port in use, a bad PORT, a broken config file: one clear line on stderr, no stack trace, a
 * non-zero exit. Where to listen: flags, then HOST/PORT from the environment, then the config file.
 * Configs here point at a model file that does not exist, so no model loads (the variant is reported
 * not ready, which is not fatal).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/tritgate.js");
const running: ChildProcess[] = [];
const blockers: Server[] = [];

interface Exited {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Serving {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
}

/** A clean environment: no HOST/PORT/config of the machine running the tests leaks in. */
function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["HOST", "PORT", "TRITGATE_CONFIG", "TRITGATE_STATE_DIR", "DATABASE_URL", "REDIS_URL"])
    delete env[name];
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: environment(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  return child;
}

/** Runs the CLI to its exit (it must exit by itself: a hang fails the test by its timeout). */
function runToExit(args: string[], env: Record<string, string> = {}): Promise<Exited> {
  const child = start(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** Starts `serve` and waits for its "serving" line. */
function serve(args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const child = start(["serve", ...args], env);
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /serving (http:\/\/\S+)\/v1/.exec(output)?.[1];
      if (url) resolve({ child, url, output: () => output });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

function stop(child: ChildProcess): Promise<number | string | null> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal));
    child.kill("SIGTERM");
  });
}

/** Holds a loopback port, as another program would. */
async function occupiedPort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  blockers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as { port: number }).port;
}

/** A config whose only variant's model file does not exist; `server` is the server section's YAML. */
function configFile(server: string): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "tg-first-run-"));
  const file = join(dir, "tritgate.yaml");
  writeFileSync(
    file,
    [
      `server: { ${server}${server ? ", " : ""}stateDir: state }`,
      "tiers:",
      "  - { name: standard, qualityFloor: 0, ttftSlaMs: 1000, totalSlaMs: 10000, onOverload: degrade,",
      "      requestsPerMinute: 10, tokensPerMinute: 10000, maxOutputTokens: 16 }",
      "variants:",
      "  - { name: ghost, family: ghost, engine: bitnet, path: no-such-model.gguf,",
      "      card: { prefillTokensPerSecond: 100, decodeTokensPerSecond: 10 }, pricePerCoreHour: 0, wattsPerCore: 0 }",
      "tenants: [{ id: demo, name: Demo, tier: standard }]",
      "demoTenant: demo",
    ].join("\n"),
  );
  return { file, dir };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A process start (PGlite, workers) on a busy machine takes a while; no assertion is on how long. */
const SLOW = 180_000;

const NO_STACK = /^\s+at |node:internal|Error: /m;

beforeAll(() => {
  // bin/tritgate.js runs dist/: build it from the sources under test (incremental, as `npm start` does)
  execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: ROOT,
    stdio: "inherit",
  });
}, 240_000);

afterEach(() => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

afterAll(async () => {
  await Promise.all(blockers.map((b) => new Promise((resolve) => b.close(resolve))));
});

describe("a port already in use", () => {
  it(
    "is one line on stderr naming the address, exit 1, and no demo key spent unseen",
    async () => {
      const port = await occupiedPort();
      const { file, dir } = configFile("");
      const run = await runToExit(["serve", "--config", file, "--port", String(port)]);
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split("\n"), run.stderr).toEqual([
        `tritgate serve: cannot listen on 127.0.0.1:${port}: the port is already in use (another tritgate or another program); stop it, or choose another port with --port or PORT`,
      ]);
      expect(run.stderr + run.stdout).not.toMatch(NO_STACK);
      // the demo key is made once the gateway listens: a failed first start leaves none behind, so the
      // next start shows it
      const keys = join(dir, "state/keys.json");
      expect(existsSync(keys) ? readFileSync(keys, "utf8") : "").not.toContain('"tenantId": "demo"');
      const served = await serve(["--config", file, "--port", "0"]);
      const key = await until(
        async () => /demo key for tenant demo \(shown once, stored hashed\): (tg-\S+)/.exec(served.output())?.[1],
        "the demo key",
      );
      const models = await fetch(`${served.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      expect(models.status).toBe(200);
      expect(await stop(served.child)).toBe(0);
    },
    SLOW,
  );
});

describe("HOST and PORT from the environment", () => {
  it(
    "beat the config file",
    async () => {
      // the config names a port that is taken: serving at all shows PORT won
      const taken = await occupiedPort();
      const { file } = configFile(`host: 127.0.0.1, port: ${taken}`);
      const served = await serve(["--config", file], { PORT: "0", HOST: "127.0.0.2" });
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
      expect(served.url).not.toMatch(new RegExp(`:${taken}$`));
      expect((await fetch(`${served.url}/health/live`)).status).toBe(200);
      expect(await stop(served.child)).toBe(0);
    },
    SLOW,
  );

  it(
    "lose to --host and --port",
    async () => {
      const taken = await occupiedPort("127.0.0.2");
      const { file } = configFile("");
      const served = await serve(["--config", file, "--host", "127.0.0.3", "--port", "0"], {
        PORT: String(taken),
        HOST: "127.0.0.2",
      });
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.3:\d+$/);
      expect((await fetch(`${served.url}/health/live`)).status).toBe(200);
      expect(await stop(served.child)).toBe(0);
    },
    SLOW,
  );

  it("a PORT that is not a port number is a usage error naming it (exit 2)", async () => {
    const { file } = configFile("");
    const run = await runToExit(["serve", "--config", file], { PORT: "http" });
    expect(run.code).toBe(2);
    expect(run.stderr.trimEnd().split("\n")).toEqual([
      'tritgate serve: PORT must be a port number 0..65535, got "http"',
    ]);
  });

  it(
    "without flags or HOST/PORT, the config file's server.host and server.port are used",
    async () => {
      const { file } = configFile("port: 0");
      const served = await serve(["--config", file]);
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await stop(served.child)).toBe(0);
    },
    SLOW,
  );
});

describe("a config file with a mistake", () => {
  async function refused(name: string, text: string) {
    const dir = mkdtempSync(join(tmpdir(), "tg-first-run-bad-"));
    const file = join(dir, name);
    writeFileSync(file, text);
    const run = await runToExit(["serve", "--config", file]);
    expect(run.code).toBe(1);
    expect(run.stderr + run.stdout).not.toMatch(NO_STACK);
    return { file, stderr: run.stderr };
  }

  it("a wrong value: the file, line and column, the path in it, what was expected and what it got", async () => {
    const { file, stderr } = await refused(
      "tritgate.yaml",
      readFileSync(configFile("").file, "utf8").replace("ttftSlaMs: 1000", "ttftSlaMs: fast"),
    );
    expect(stderr.trimEnd()).toBe(
      `tritgate serve: ${file}:3:40: tiers[0].ttftSlaMs: expected a positive number, got "fast"`,
    );
  });

  it("a YAML syntax error: the file and the line", async () => {
    const { file, stderr } = await refused("tritgate.yaml", "server:\n  port: 8080\n tiers: []\n");
    expect(stderr).toContain(`tritgate serve: ${file}:3:`);
    expect(stderr).toMatch(/YAML syntax: /);
  });

  it("a JSON syntax error: the file and the line", async () => {
    const { file, stderr } = await refused("tritgate.json", '{\n  "server": { "port": 8080 }\n  "tiers": []\n}\n');
    expect(stderr).toMatch(new RegExp(`^tritgate serve: ${file.replaceAll(".", "\\.")}:3:\\d+: JSON syntax: `));
  });

  it("a file that is not there is named, with why", async () => {
    const run = await runToExit(["serve", "--config", "/nonexistent/tritgate.yaml"]);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd()).toBe(
      "tritgate serve: cannot read config file /nonexistent/tritgate.yaml: it does not exist",
    );
  });
});
