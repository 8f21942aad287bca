/**
 * The recorder against a Postgres that goes away: a throwaway cluster from the machine's Postgres
 * binaries (Debian's /usr/lib/postgresql/<version>/bin), started and stopped by the test itself.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "./open.js";
import { DatabaseRecorder } from "./recorder.js";
import { entryAt } from "./testkit.js";

const run = promisify(execFile);

function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no Postgres binaries under ${root}/<version>/bin (Debian's postgresql package)`);
  return join(root, newest, "bin");
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

/** A cluster in a temporary directory, run as the `postgres` user when the test runs as root. */
class ThrowawayCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "tritgate-pg-"));
  readonly data = join(this.dir, "data");
  private readonly bin = postgresBin();
  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private async as(command: string, args: readonly string[]): Promise<void> {
    const path = join(this.bin, command);
    if (process.getuid?.() === 0) await run("runuser", ["-u", "postgres", "--", path, ...args]);
    else await run(path, [...args]);
  }

  async init(): Promise<void> {
    if (process.getuid?.() === 0) await run("chown", ["postgres:postgres", this.dir]);
    await this.as("initdb", ["-D", this.data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  }

  start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    return this.as("pg_ctl", ["-D", this.data, "-o", options, "-l", join(this.dir, "log"), "-w", "start"]);
  }

  stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    return this.as("pg_ctl", ["-D", this.data, "-m", mode, "-w", "stop"]);
  }

  async dispose(): Promise<void> {
    await this.stop("immediate").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([
  { flusher: "inline", flusherThread: false },
  { flusher: "on its thread", flusherThread: true },
])("DatabaseRecorder (flusher $flusher) while Postgres is stopped and started again", ({ flusherThread }) => {
  let cluster: ThrowawayCluster;
  let database: Database | undefined;

  beforeAll(async () => {
    cluster = new ThrowawayCluster(await freePort());
    await cluster.init();
    await cluster.start();
  }, 120_000);

  afterAll(async () => {
    await database?.close().catch(() => undefined);
    await cluster?.dispose();
  });

  it("loses no row and doubles none across a 10 s outage under steady enqueueing", async () => {
    database = await openDatabase({ url: cluster.url, stateDir: cluster.dir });
    const errors: string[] = [];
    const recorder = await DatabaseRecorder.start({
      database,
      journalDir: join(cluster.dir, "journal"),
      flushIntervalMs: 50,
      batchRows: 500,
      retryMs: 500,
      flusherThread,
      onError: (_e, context) => errors.push(context),
    });
    let enqueued = 0;
    // ~400 requests/s: two every 5 ms
    const load = setInterval(() => {
      for (let k = 0; k < 2; k++) {
        const e = entryAt(enqueued, new Date().toISOString());
        const request = { ...e.request, requestId: `fault-${enqueued}` };
        recorder.enqueue(request, e.decision ? { ...e.decision, requestId: request.requestId } : null);
        enqueued += 1;
      }
    }, 5);
    try {
      await sleep(2000);
      await cluster.stop("fast");
      const atStop = recorder.stats();
      await sleep(10_000);
      const duringOutage = recorder.stats();
      await cluster.start();
      await sleep(3000);
      // back while running, not only by the drain of `close`
      const beforeClose = recorder.stats();
      clearInterval(load);
      await recorder.close();
      const after = recorder.stats();

      // the outage was seen and rows went to the journal, then came back from it
      expect(duringOutage.spilled).toBeGreaterThan(atStop.spilled);
      expect(errors.length).toBeGreaterThan(0);
      expect(beforeClose.written).toBeGreaterThan(duringOutage.written);
      expect(after.replayed).toBeGreaterThan(0);
      expect(after).toMatchObject({ queueDepth: 0, lost: 0, rejected: 0, journalPending: false, flusherThread });

      const check = postgres(cluster.url, { max: 1 });
      try {
        const [row] = await check<{ rows: number; distinct: number; usage: number }[]>`select
          (select count(*)::int from requests) as rows,
          (select count(distinct request_id)::int from requests) as distinct,
          (select coalesce(sum(requests), 0)::int from daily_usage) as usage`;
        expect(row).toEqual({ rows: enqueued, distinct: enqueued, usage: enqueued });
        // every row counted written is there, and every row there was counted written (a replay of a
        // batch that did commit counts its rows as duplicates, so those alone may be above zero)
        expect(after.written).toBe(enqueued);
      } finally {
        await check.end();
      }
    } finally {
      clearInterval(load);
    }
  }, 120_000);
});
