/**
 * Serves a Hono app on Node's HTTP server (@hono/node-server). Requests Node refuses before the app
 * sees them (headers over `maxHeaderSize`, malformed HTTP) still get an OpenAI-shaped error with an
 * `x-request-id`, and their connection is closed; a client that hangs up is one debug line.
 */
import type { Server } from "node:http";
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
  readonly log?: Logger;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export function startServer(app: Hono<GatewayEnv>, options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? createLogger();
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
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
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              if ("closeAllConnections" in server) server.closeAllConnections();
            }),
        });
      },
    ) as Server;
    const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) =>
      answerClientError(err, socket, log, maxHeaderBytes),
    );
    server.once("error", reject);
  });
}

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
