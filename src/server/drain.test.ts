/**
 * `RunningServer.close()` drains: what is in flight finishes, what arrives meanwhile is refused with
 * a retryable 503, and past the drain timeout the rest is cut. Real HTTP on loopback, a plain Hono
 * app whose one route answers when the test lets it.
 */
import { Agent, request as httpRequest } from "node:http";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { startServer } from "./serve.js";
import type { GatewayEnv } from "./types.js";

/** An app whose /slow answers only once `release()` is called; `started` resolves when it is reached. */
function gatedApp() {
  let release = () => {};
  let reached = () => {};
  const started = new Promise<void>((r) => {
    reached = r;
  });
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const app = new Hono<GatewayEnv>()
    .get("/slow", async (c) => {
      reached();
      await gate;
      return c.json({ answered: true });
    })
    .get("/health/ready", (c) => c.json({ status: "ready" }))
    .get("/health/live", (c) => c.json({ status: "ok" }));
  return { app, release: () => release(), started };
}

/** GET over a fresh connection (no keep-alive pool), with the raw status, headers and body. */
function get(
  url: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {});
});

describe("draining on close", () => {
  it("lets a request in flight finish, refuses new ones with a retryable 503, keeps liveness, then closes", async () => {
    const { app, release, started } = gatedApp();
    const server = await startServer(app, { port: 0, drainTimeoutMs: 30_000 });
    const inFlight = get(`${server.url}/slow`);
    await started;
    const closed = server.close();

    const refused = await get(`${server.url}/v1/chat/completions`);
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.headers["x-request-id"]).toMatch(/^req_/);
    expect(refused.headers.connection).toBe("close");
    expect(JSON.parse(refused.body)).toEqual({
      error: {
        message: expect.stringContaining("shutting down"),
        type: "server_error",
        param: null,
        code: "server_shutting_down",
      },
    });
    expect((await get(`${server.url}/health/ready`)).status).toBe(503);
    expect((await get(`${server.url}/health/live`)).status).toBe(200);

    release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ answered: true });
    expect(await closed).toBe(0);
    await expect(get(`${server.url}/health/live`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("cuts what is still in flight once the drain timeout has passed, and says how many", async () => {
    const { app, release, started } = gatedApp();
    const server = await startServer(app, { port: 0, drainTimeoutMs: 300 });
    closers.push(async () => release());
    const inFlight = get(`${server.url}/slow`);
    await started;
    expect(await server.close()).toBe(1);
    await expect(inFlight).rejects.toThrow(/socket hang up|ECONNRESET/);
  });

  it("closes at once when nothing is in flight", async () => {
    const { app } = gatedApp();
    const server = await startServer(app, { port: 0, drainTimeoutMs: 60_000 });
    expect((await get(`${server.url}/health/ready`)).status).toBe(200);
    expect(await server.close()).toBe(0);
  });
});

describe("idle keep-alive connections", () => {
  it("stay open past Node's 5 s default, so a client reusing one is not reset", async () => {
    const { app } = gatedApp();
    const server = await startServer(app, { port: 0 });
    closers.push(() => server.close());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(async () => agent.destroy());
    /** GET through the keep-alive agent: the status, the keep-alive header and the local port (which socket) */
    const viaAgent = () =>
      new Promise<{ status: number; keepAlive: string | string[] | undefined; localPort: number | undefined }>(
        (resolve, reject) => {
          const req = httpRequest(`${server.url}/health/live`, { agent }, (res) => {
            res.resume();
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                keepAlive: res.headers["keep-alive"],
                localPort: req.socket?.localPort,
              }),
            );
          });
          req.on("error", reject);
          req.end();
        },
      );
    const first = await viaAgent();
    expect(first).toMatchObject({ status: 200, keepAlive: "timeout=65" });
    await new Promise((r) => setTimeout(r, 5_500));
    const second = await viaAgent();
    expect(second.status).toBe(200);
    // the same connection: the server did not close it while it was idle
    expect(second.localPort).toBe(first.localPort);
  }, 20_000);
});
