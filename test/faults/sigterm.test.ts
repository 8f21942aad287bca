/**
 * SIGTERM under load, as an orchestrator sends it: `tritgate serve` (a real process, the committed
 * nano models, the embedded PGlite) with streams in flight. The streams finish whole, a request
 * arriving meanwhile gets a retryable 503, the process exits 0, and every answered request is in the
 * database afterwards.
 *
 * nano answers 200 tokens in well under a second, so the streams alone may all be done before the
 * first probe after SIGTERM lands. One more request is held in flight by the test itself: its body is
 * sent up to its last bytes before SIGTERM and finished only after the 503 was seen, so the drain
 * has something to wait for whatever the machine's speed.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.js";
import { exited, type ServeProcess, startServeProcess, until } from "../helpers/serve-process.js";

const STREAMS = 6;
let gateway: ServeProcess | undefined;
afterEach(() => {
  if (gateway && gateway.child.exitCode === null) gateway.child.kill("SIGKILL");
});

interface Stream {
  /** resolves when the first content delta has arrived */
  readonly started: Promise<void>;
  /** the whole body, once the server has ended it */
  body: Promise<string>;
  done: boolean;
}

const chatBody = (n: number) => ({
  model: "nano",
  stream: true,
  max_tokens: 200,
  temperature: 0.8,
  seed: n,
  messages: [{ role: "user", content: `Tell story number ${n} about a lighthouse.` }],
});

/** Reads an SSE body to its end, calling `started` at the first content delta. */
async function readStream(res: Response, started: () => void): Promise<string> {
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (text.includes('"content":"')) started();
  }
  started();
  return text;
}

function openStream(url: string, key: string, n: number): Stream {
  let started = () => {};
  const stream: Stream = {
    started: new Promise<void>((r) => {
      started = r;
    }),
    done: false,
    body: Promise.resolve(""),
  };
  stream.body = (async () => {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(chatBody(n)),
    });
    const text = await readStream(res, started);
    stream.done = true;
    return text;
  })();
  return stream;
}

/** A streamed request whose body is all sent but its last byte until `finish()`: in flight, and not done. */
function holdUpload(url: string, key: string, n: number): { finish: () => void; body: Promise<string> } {
  const json = new TextEncoder().encode(JSON.stringify(chatBody(n)));
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const upload = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(json.subarray(0, json.length - 1));
    },
  });
  const sent = fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: upload,
    duplex: "half",
  } as RequestInit);
  return {
    finish: () => {
      controller?.enqueue(json.subarray(json.length - 1));
      controller?.close();
    },
    body: sent.then((res) => readStream(res, () => {})),
  };
}

describe("SIGTERM under load", () => {
  it("finishes the streams in flight, refuses new requests with 503, records every answer, exits 0", async () => {
    const state = mkdtempSync(join(tmpdir(), "tg-sigterm-"));
    gateway = await startServeProcess(["--port", "0", "--state-dir", state]);
    const { url, child, output } = gateway;
    const key = await until(() => /\(shown once, stored hashed\): (tg-\S+)/.exec(output())?.[1], "the demo key");
    await until(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), "a ready variant");

    const streams = Array.from({ length: STREAMS }, (_, n) => openStream(url, key, n));
    const held = holdUpload(url, key, STREAMS);
    await Promise.all(streams.map((s) => s.started));
    // by the time every stream has its first token, the held request (sent with them) has long arrived;
    // were it not counted in the drain, it would be refused and its 200 below would fail
    child.kill("SIGTERM");
    await until(() => /draining \d+ request\(s\) in flight/.exec(output())?.[0], "the drain to start");

    const refused = await until(async () => {
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      return res.status === 503 ? res : undefined;
    }, "a 503 while draining");
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("x-request-id")).toMatch(/^req_/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("server_shutting_down");

    held.finish();
    const bodies = await Promise.all([...streams.map((s) => s.body), held.body]);
    for (const body of bodies) {
      expect(body).toMatch(/"finish_reason":"(stop|length)"/);
      expect(body.trimEnd().endsWith("data: [DONE]")).toBe(true);
    }
    expect(await exited(child)).toBe(0);

    const database = await openDatabase({ stateDir: state });
    try {
      const rows = await database.rows<{ n: number }>(
        sql`select count(*)::int as n from requests where status = 200 and stream`,
      );
      expect(rows[0]?.n).toBe(STREAMS + 1);
    } finally {
      await database.close();
    }
  }, 300_000);
});
