/**
 * Where `tritgate serve` listens and what it says when it cannot. The address: `--host`/`--port`, else
 * `HOST`/`PORT` from the environment (what Cloud Run, Heroku and most container platforms set), else the
 * config's `server.host`/`server.port`. A listen failure (port in use, no permission, an address not on
 * this machine) is one line naming the address and what to do, never a stack trace.
 */
import type { Hono } from "hono";
import type { ServerConfig } from "../config/index.js";
import { type RunningServer, startServer } from "../server/index.js";
import type { GatewayEnv } from "../server/types.js";

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** A command line or environment value that cannot be used: a usage error (exit 2). */
export class ListenAddressError extends Error {}

const given = (value: string | undefined): value is string => value !== undefined && value !== "";

function parsePort(text: string, from: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port > 65535) {
    throw new ListenAddressError(`${from} must be a port number 0..65535, got ${JSON.stringify(text)}`);
  }
  return port;
}

/** Flags, then the environment, then the config file (each of host and port on its own). */
export function listenAddress(
  flags: { readonly host?: string | undefined; readonly port?: string | undefined },
  env: NodeJS.ProcessEnv,
  configured: { readonly host: string; readonly port: number },
): ListenAddress {
  const host = given(flags.host) ? flags.host : given(env.HOST) ? env.HOST : configured.host;
  if (given(flags.port)) return { host, port: parsePort(flags.port, "--port") };
  if (given(env.PORT)) return { host, port: parsePort(env.PORT, "PORT") };
  return { host, port: configured.port };
}

/**
 * The listener of `/metrics`, `/ui`, `/dashboards` and `/admin` when the config gives them a port of their
 * own (on loopback unless it names a host); null when they share the API's.
 */
export function operationsAddress(server: ServerConfig): { host: string; port: number } | null {
  const port = server.observability?.port;
  return port === undefined ? null : { host: server.observability?.host ?? "127.0.0.1", port };
}

/** Why a listen failed, in one line; `change` says what to edit to pick another address. */
export function listenFailure(error: unknown, host: string, port: number, change: string): string {
  const where = `cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "EADDRINUSE":
      return `${where}: the port is already in use (another tritgate or another program); stop it, or choose another port with ${change}`;
    case "EACCES":
      return `${where}: permission denied (ports below 1024 need privileges); choose another port with ${change}`;
    case "EADDRNOTAVAIL":
      return `${where}: ${host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own addresses`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `${where}: the host name ${host} does not resolve`;
    default:
      return `${where}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export interface Listener {
  readonly app: Hono<GatewayEnv>;
  readonly at: { readonly host: string; readonly port: number };
  /** what to change for another port, for the error */
  readonly change: string;
  /** how long a stop lets requests in flight finish (startServer's default when absent) */
  readonly drainTimeoutMs?: number;
}

/**
 * Starts the listeners in order. When one cannot listen, those already started are closed and the
 * failure comes back as its one-line explanation instead of a rejection.
 */
export async function listenAll(listeners: readonly Listener[]): Promise<RunningServer[] | string> {
  const started: RunningServer[] = [];
  for (const { app, at, change, drainTimeoutMs } of listeners) {
    try {
      started.push(
        await startServer(app, { host: at.host, port: at.port, ...(drainTimeoutMs ? { drainTimeoutMs } : {}) }),
      );
    } catch (e) {
      await Promise.all(started.map((s) => s.close()));
      return listenFailure(e, at.host, at.port, change);
    }
  }
  return started;
}
