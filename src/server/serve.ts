/**
 * Serves a Hono app on Node's HTTP server (@hono/node-server). Requests Node refuses before the app
 * sees them (headers over `maxHeaderSize`, malformed HTTP) still get an OpenAI-shaped error with an
 * `x-request-id`, and their connection is closed; a client that hangs up is one debug line.
 *
 * `close()` drains: requests in flight (streams included) finish, every new request meanwhile gets
 * 503 `server_shutting_down` with `retry-after` and `connection: close` (so a load balancer or
 * client retries on another replica; `/health/ready` answers the same, `/health/live` stays 200), and
 * once nothing is in flight, or `drainTimeoutMs` has passed, the listener and every connection close.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import type { OpenAIErrorBody } from "./errors.js";
import { newId } from "./ids.js";
import { createLogger, type Logger } from "./log.js";
import type { GatewayEnv } from "./types.js";

/** Node's own default (16 KiB), stated so that the limit is ours. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

export interface ServeOptions {
  readonly host?: string;
  /** 0 = any free port */
  readonly port?: number;
  /** request line plus headers, in bytes; past it the answer is 431 */
  readonly maxHeaderBytes?: number;
  /** how long `close()` lets requests in flight finish before cutting their connections (10 s) */
  readonly drainTimeoutMs?: number;
  /** how long an idle keep-alive connection is kept open (65 s; see DEFAULT_KEEP_ALIVE_TIMEOUT_MS) */
  readonly keepAliveTimeoutMs?: number;
  readonly log?: Logger;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Drains (above), then closes; resolves with the number of requests cut at the drain timeout. */
  close(): Promise<number>;
}

/**
 * Idle keep-alive connections are kept longer than the clients and proxies in front of a gateway keep
 * theirs (AWS ALB 60 s, nginx's upstream keepalive 60 s; undici follows the server's own hint). With
 * Node's default of 5 s the server closes an idle connection that a client may at that moment send its
 * next request on, and that request fails with ECONNRESET (a 502 behind a load balancer): the race is
 * the server's to avoid, by never being the side that closes first.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Seconds a client refused during a drain is told to wait (another replica can answer at once). */
const DRAIN_RETRY_AFTER_SECONDS = 1;

export function startServer(app: Hono<GatewayEnv>, options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? createLogger();
  const drain = new Drain(options.drainTimeoutMs ?? 10_000);
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: (request, env) => (drain.draining ? drain.refuse(request) : app.fetch(request, env)),
        hostname: host,
        port: options.port ?? 8080,
        serverOptions: { maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES },
      },
      (info: AddressInfo) => {
        const shown = info.address.includes(":") ? `[${info.address}]` : info.address;
        resolve({
          host: info.address,
          port: info.port,
          url: `http://${shown}:${info.port}`,
          close: () => drain.close(server, log),
        });
      },
    ) as Server;
    server.keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => drain.track(req, res));
    const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) =>
      answerClientError(err, socket, log, maxHeaderBytes),
    );
    server.once("error", reject);
  });
}

/** Requests in flight, and the drain that waits for them. */
class Drain {
  draining = false;
  private inFlight = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly timeoutMs: number) {}

  track(req: IncomingMessage, res: ServerResponse): void {
    // a refusal during the drain is not something to wait for
    if (this.draining && !isLiveness(req.url)) return;
    this.inFlight++;
    res.once("close", () => {
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    });
  }

  refuse(request: Request): Response {
    const path = new URL(request.url).pathname;
    if (isLiveness(path)) return Response.json({ status: "ok", draining: true });
    const body: OpenAIErrorBody = {
      error: {
        message: "The server is shutting down; retry the request (another replica can answer it).",
        type: "server_error",
        param: null,
        code: "server_shutting_down",
      },
    };
    return Response.json(body, {
      status: 503,
      headers: {
        "retry-after": String(DRAIN_RETRY_AFTER_SECONDS),
        "x-request-id": request.headers.get("x-request-id") ?? newId("req_", 16),
        connection: "close",
      },
    });
  }

  async close(server: Server, log: Logger): Promise<number> {
    this.draining = true;
    if (this.inFlight > 0) {
      log.info(`draining ${this.inFlight} request(s) in flight (up to ${this.timeoutMs} ms)`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((done) => {
        this.idle = done;
        timer = setTimeout(done, this.timeoutMs);
      });
      clearTimeout(timer);
    }
    const cut = this.inFlight;
    if (cut > 0) log.warn(`drain timeout: cutting ${cut} request(s) still in flight`);
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    return cut;
  }
}

const isLiveness = (path: string | undefined) => path === "/health/live";

/** Node's parser errors as OpenAI errors: 431 for headers past the limit, 400 for malformed requests. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, log: Logger, maxHeaderBytes: number): void {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  const hungUp = err.code === "ECONNRESET" || err.code === "HPE_INVALID_EOF_STATE";
  if (hungUp || !socket.writable || inFlight?.headersSent) {
    log.debug(`client hung up before the request was complete (${err.code ?? err.message})`);
    socket.destroy();
    return;
  }
  const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
  const status = tooLarge ? 431 : 400;
  const requestId = newId("req_", 16);
  const body: OpenAIErrorBody = {
    error: {
      message: tooLarge
        ? `The request's headers are larger than the ${maxHeaderBytes} bytes this server accepts.`
        : "The server could not parse this HTTP request.",
      type: "invalid_request_error",
      param: null,
      code: tooLarge ? "headers_too_large" : "malformed_request",
    },
  };
  const json = JSON.stringify(body);
  log.debug(`${requestId} refused before routing: ${status} (${err.code ?? err.message})`);
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${Buffer.byteLength(json)}\r\n` +
      `x-request-id: ${requestId}\r\n` +
      "connection: close\r\n\r\n" +
      json,
  );
}
