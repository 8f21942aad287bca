/**
 * HTTP edges over real sockets: a 413 closes its connection so the next request on a keep-alive agent
 * works, Node's header limits answer in OpenAI's shape with an `x-request-id`, and a client that hangs
 * up mid-upload is one debug line.
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VariantWorker } from "../engines/pool/index.js";
import { memoryLog, served, startTestGateway, startTinyWorkers, type TestGateway } from "./testkit.js";

let workers: Record<string, VariantWorker>;
let gw: TestGateway;
const log = memoryLog();

beforeAll(async () => {
  workers = await startTinyWorkers();
  gw = await startTestGateway(served(workers), { bodyLimitBytes: 16 * 1024, log });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(workers ?? {}).map((w) => w.close()));
});

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request through `agent`; `chunks` are written one by one (no content-length: chunked). */
function send(
  agent: http.Agent,
  path: string,
  chunks: readonly string[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${gw.server.url}${path}`,
      {
        method: "POST",
        agent,
        headers: { authorization: `Bearer ${gw.keys.standard}`, "content-type": "application/json", ...headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    // once the server has answered and closed, the rest of an oversized upload cannot be written
    req.on("error", (e) => (req.writableEnded ? undefined : reject(e)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

const normal = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });

function expectOpenAIError(a: { body: string; headers: http.IncomingHttpHeaders }): void {
  expect(a.headers["x-request-id"]).toMatch(/^req_/);
  const json = JSON.parse(a.body) as { error: Record<string, unknown> };
  expect(Object.keys(json.error).sort()).toEqual(["code", "message", "param", "type"]);
}

/** Raw bytes on a fresh socket; resolves with everything the server wrote before closing. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(gw.server.port, "127.0.0.1");
    let out = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      out += d;
    });
    socket.on("end", () => resolve(out));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

function parseRaw(text: string): Answer {
  const [head, ...rest] = text.split("\r\n\r\n");
  const [statusLine, ...lines] = head!.split("\r\n");
  const headers: http.IncomingHttpHeaders = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
}

describe("http edges", () => {
  it("a chunked body over the limit is a 413 that closes its connection; the next request on the agent is served", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = Array.from({ length: 8 }, () => "x".repeat(8 * 1024));
      const refused = await send(agent, "/v1/chat/completions", big);
      expect(refused.status).toBe(413);
      expect(refused.headers.connection).toBe("close");
      expectOpenAIError(refused);
      const next = await send(agent, "/v1/chat/completions", [normal]);
      expect(next.status).toBe(200);
      const declared = await send(agent, "/v1/chat/completions", [], { "content-length": String(64 * 1024) });
      expect(declared.status).toBe(413);
      expect(declared.headers.connection).toBe("close");
      expect((await send(agent, "/v1/chat/completions", [normal])).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it("headers past the size limit are a 431 in OpenAI's shape with x-request-id", async () => {
    const answer = parseRaw(await raw(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20 * 1024)}\r\n\r\n`));
    expect(answer.status).toBe(431);
    expect(answer.headers["content-type"]).toBe("application/json");
    expectOpenAIError(answer);
    expect(JSON.parse(answer.body).error.code).toBe("headers_too_large");
  });

  it("too many headers are a 431 too_many_headers; a malformed request is a 400, both OpenAI-shaped", async () => {
    const many = Array.from({ length: 300 }, (_, i) => `x-h${i}: 1\r\n`).join("");
    const answer = parseRaw(await raw(`GET /health/live HTTP/1.1\r\nhost: x\r\n${many}connection: close\r\n\r\n`));
    expect(answer.status).toBe(431);
    expectOpenAIError(answer);
    expect(JSON.parse(answer.body).error.code).toBe("too_many_headers");
    const garbage = parseRaw(await raw("NOT HTTP AT ALL\r\n\r\n"));
    expect(garbage.status).toBe(400);
    expectOpenAIError(garbage);
  });

  it("a client that disconnects mid-upload is one debug line, without a stack trace", async () => {
    const before = log.lines.length;
    for (const framing of ["content-length: 5000", "transfer-encoding: chunked"]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(gw.server.port, "127.0.0.1", () => {
          const body = framing.startsWith("transfer") ? '100\r\n{"model":"tiny"' : '{"model":"tiny"';
          socket.write(
            `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.keys.standard}\r\n` +
              `content-type: application/json\r\n${framing}\r\n\r\n${body}`,
          );
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
        });
      });
    }
    // the server notices the hang-up asynchronously
    for (let i = 0; i < 100 && log.lines.length - before < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const lines = log.lines.slice(before);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^\[tritgate\] debug .*client hung up before the request was complete \(.+\)$/);
      expect(line).not.toContain("\n");
    }
    const live = await fetch(`${gw.server.url}/health/live`);
    expect(live.status).toBe(200);
  });
});
