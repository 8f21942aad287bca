/** A real Prometheus (Debian's `prometheus`) on 127.0.0.1 with a temporary storage dir, for the dashboard tests. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

export type QueryAnswer =
  | { status: "success"; data: { resultType: string; result: PromSample[] } }
  | {
      status: "error";
      errorType: string;
      error: string;
    };

export interface RunningPrometheus {
  readonly url: string;
  query(expr: string): Promise<QueryAnswer>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Fails with the install line when Debian's prometheus is missing. */
export function requirePrometheus(): void {
  const probe = spawnSync("prometheus", ["--version"], { encoding: "utf8" });
  if (probe.error) {
    throw new Error(`prometheus is not installed (${probe.error.message}); install it: apt-get install -y prometheus`);
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts Prometheus scraping `target` (host:port, path /metrics) every second. */
export async function startPrometheus(target: string): Promise<RunningPrometheus> {
  requirePrometheus();
  const dir = mkdtempSync(join(tmpdir(), "tg-prometheus-"));
  const port = await freePort();
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: tritgate",
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  const output: string[] = [];
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (d) => output.push(String(d)));
  child.stderr?.on("data", (d) => output.push(String(d)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until("prometheus to be ready", 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${output.join("")}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    });
  } catch (e) {
    await close();
    throw e;
  }
  const query = async (expr: string): Promise<QueryAnswer> => {
    const res = await fetch(`${url}/api/v1/query`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ query: expr }),
    });
    return (await res.json()) as QueryAnswer;
  };
  return { url, query, close };
}

/** Waits until Prometheus's latest scrape of `expr` (one scalar-ish sample) reads `expected`. */
export async function untilScraped(prometheus: RunningPrometheus, expr: string, expected: number): Promise<void> {
  await until(`${expr} = ${expected} in Prometheus`, 30_000, async () => {
    const answer = await prometheus.query(expr);
    if (answer.status !== "success") throw new Error(answer.error);
    const value = Number(answer.data.result[0]?.value[1]);
    return value === expected ? true : undefined;
  });
}
