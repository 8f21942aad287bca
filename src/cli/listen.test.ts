import { createServer } from "node:net";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_YAML } from "../config/defaults.js";
import { parseConfig } from "../config/index.js";
import type { GatewayEnv } from "../server/types.js";
import { ListenAddressError, listenAddress, listenAll, listenFailure } from "./listen.js";

const configured = { host: "10.0.0.1", port: 8080 };

describe("listenAddress: flags, then HOST/PORT, then the config", () => {
  it("the config when nothing else is given (an empty variable counts as unset)", () => {
    expect(listenAddress({}, {}, configured)).toEqual({ host: "10.0.0.1", port: 8080 });
    expect(listenAddress({}, { HOST: "", PORT: "" }, configured)).toEqual({ host: "10.0.0.1", port: 8080 });
  });

  it("HOST and PORT over the config, each on its own", () => {
    expect(listenAddress({}, { PORT: "3000" }, configured)).toEqual({ host: "10.0.0.1", port: 3000 });
    expect(listenAddress({}, { HOST: "0.0.0.0" }, configured)).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("--host and --port over the environment", () => {
    const env = { HOST: "0.0.0.0", PORT: "3000" };
    expect(listenAddress({ host: "127.0.0.1", port: "0" }, env, configured)).toEqual({ host: "127.0.0.1", port: 0 });
  });

  it("a value that is not a port is refused naming where it came from", () => {
    for (const [flags, env, named] of [
      [{ port: "80a" }, {}, "--port"],
      [{}, { PORT: "65536" }, "PORT"],
      [{}, { PORT: "-1" }, "PORT"],
      [{}, { PORT: "1.5" }, "PORT"],
    ] as const) {
      expect(() => listenAddress(flags, env, configured)).toThrow(ListenAddressError);
      expect(() => listenAddress(flags, env, configured)).toThrow(new RegExp(`^${named} must be a port number`));
    }
  });
});

describe("listen failures", () => {
  it("each known cause is one line saying what to do", () => {
    const fail = (code: string) => listenFailure(Object.assign(new Error(code), { code }), "::1", 80, "--port");
    expect(fail("EADDRINUSE")).toBe(
      "cannot listen on [::1]:80: the port is already in use (another tritgate or another program); stop it, or choose another port with --port",
    );
    expect(fail("EACCES")).toMatch(/permission denied \(ports below 1024 need privileges\)/);
    expect(fail("EADDRNOTAVAIL")).toMatch(/::1 is not an address of this machine/);
    expect(fail("ENOTFOUND")).toMatch(/does not resolve/);
    for (const code of ["EADDRINUSE", "EACCES", "EADDRNOTAVAIL", "ENOTFOUND", "EOTHER"])
      expect(fail(code)).not.toContain("\n");
  });

  it("listenAll: a port in use comes back as its line, and the listeners already started are closed", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const taken = (blocker.address() as { port: number }).port;
    const app = new Hono<GatewayEnv>().get("/", (c) => c.text("ok"));
    try {
      const started = await listenAll([{ app, at: { host: "127.0.0.1", port: 0 }, change: "--port" }]);
      if (typeof started === "string") throw new Error(started);
      expect(await (await fetch(started[0]?.url ?? "")).text()).toBe("ok");
      const free = started[0]?.port ?? 0;
      await Promise.all(started.map((s) => s.close()));

      const result = await listenAll([
        { app, at: { host: "127.0.0.1", port: free }, change: "--port" },
        { app, at: { host: "127.0.0.1", port: taken }, change: "server.observability.port" },
      ]);
      expect(result).toBe(
        `cannot listen on 127.0.0.1:${taken}: the port is already in use (another tritgate or another program); stop it, or choose another port with server.observability.port`,
      );
      // the first listener let its port go again
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once("error", reject);
        again.listen(free, "127.0.0.1", resolve);
      });
      await new Promise((resolve) => again.close(resolve));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe("server.observability in the config", () => {
  const withServer = (server: string) =>
    DEFAULT_CONFIG_YAML.replace(/^server:\n(?: {2}.*\n)+/m, `server:\n${server}\n`);

  it("a port, a host and a token are read", () => {
    const config = parseConfig(
      withServer("  observability: { host: 0.0.0.0, port: 9090, token: a-token-of-16-chars }"),
      "t.yaml",
    );
    expect(config.server.observability).toEqual({ host: "0.0.0.0", port: 9090, token: "a-token-of-16-chars" });
  });

  it("a host without a port, a short token, an unknown key: each named where it is", () => {
    expect(() => parseConfig(withServer("  observability: { host: 0.0.0.0 }"), "t.yaml")).toThrow(
      /t\.yaml:3:\d+: server\.observability\.host: expected server\.observability\.port too/,
    );
    expect(() => parseConfig(withServer("  observability: { port: 9090, token: short }"), "t.yaml")).toThrow(
      /server\.observability\.token: expected at least 16 characters/,
    );
    expect(() => parseConfig(withServer("  observability: { prot: 9090 }"), "t.yaml")).toThrow(
      /server\.observability: unknown key "prot" \(did you mean "port"\?\)/,
    );
  });
});
