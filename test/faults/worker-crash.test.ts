/**
 * An engine worker killed mid-generation: the committed nano models on worker threads behind the
 * gateway on real HTTP, and the ternary variant's worker crashed (the pool's `crash()` hook, which
 * makes the thread exit abnormally) while it answers. A stream that has started ends with an SSE
 * error event (the answer is committed once a token has streamed, so there is no failover); a
 * whole-body request whose generation had begun gets an OpenAI-shaped 500 (the gateway commits on
 * the first token for whole answers too); the worker restarts and the variant answers again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VariantWorker } from "../../src/engines/pool/index.js";
import { type NanoGateway, startNanoGateway } from "../../src/server/testkit.js";
import type { VariantRuntime } from "../../src/server/types.js";
import { until } from "../helpers/serve-process.js";

const VICTIM = "nano-b158";
let nano: NanoGateway;
let victim: VariantWorker;
/** called by the victim's wrapper on the first token of a generation, on the gateway's thread */
let onFirstToken: (() => void) | undefined;

/**
 * The worker as the gateway sees it, except that generations ignore the end-of-sequence token: the
 * crash must land while the worker is still generating, whatever the model would have said.
 */
function ignoringEos(worker: VariantWorker): VariantRuntime {
  return {
    name: worker.name,
    slots: worker.slots,
    get state() {
      return worker.state;
    },
    get error() {
      return worker.error;
    },
    get info() {
      return worker.info;
    },
    get running() {
      return worker.running;
    },
    get waiting() {
      return worker.waiting;
    },
    generate: (request, onToken, signal) => {
      let first = true;
      return worker.generate(
        { ...request, ignoreEos: true },
        (token) => {
          onToken?.(token);
          if (first) {
            first = false;
            onFirstToken?.();
          }
        },
        signal,
      );
    },
  };
}

beforeAll(async () => {
  nano = await startNanoGateway({}, ignoringEos);
  victim = nano.workers.find((w) => w.name === VICTIM) as VariantWorker;
}, 120_000);

afterAll(async () => {
  await nano?.close();
});

const post = (body: object) =>
  fetch(`${nano.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${nano.keys.standard}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: VICTIM,
      max_tokens: 200, // the nano context is 256 tokens
      messages: [{ role: "user", content: "Tell a long story about a lighthouse." }],
      ...body,
    }),
  });

/** Waits for the restarted worker to be ready, then checks the variant answers again. */
async function answersAgain(restarts: number): Promise<void> {
  await until(() => (victim.state === "ready" && victim.restarts === restarts ? true : undefined), "the restart");
  const res = await post({ max_tokens: 8 });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-tritgate-variant")).toBe(VICTIM);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
}

describe("an engine worker killed mid-generation", () => {
  it("ends a started stream with an SSE error event, restarts the worker, and the variant answers again", async () => {
    // crashed once the first token has gone out as a chunk (the wrapper hands it on first), on the
    // gateway's thread, so the worker is surely still generating whatever this machine's load
    onFirstToken = () => victim.crash();
    const res = await post({ stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.headers.get("x-tritgate-variant")).toBe(VICTIM);
    // the stream must end by itself (the server closes it); a hang fails on the test's timeout
    const text = await res.text();
    onFirstToken = undefined;
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => e.slice("data: ".length));
    expect(events.at(-1)).not.toBe("[DONE]");
    expect(text).not.toMatch(/"finish_reason":"(stop|length)"/);
    // the last event is the OpenAI-shaped error, then the server closes the stream
    expect(JSON.parse(events.at(-1) as string)).toEqual({
      error: {
        message: "The server had an error while processing your request.",
        type: "server_error",
        param: null,
        code: "internal_error",
      },
    });
    // every event before it is a chunk of the answer
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: unknown[] });
    for (const chunk of chunks) expect(chunk.object).toBe("chat.completion.chunk");
    expect(text).toContain('"delta":{"content":"');
    await answersAgain(1);
  }, 120_000);

  it("answers a whole-body request in flight on the crashed variant with an OpenAI-shaped 500, then serves again", async () => {
    // crashed on the first token the worker sends back, so the generation is surely still running
    onFirstToken = () => victim.crash();
    const res = await post({});
    onFirstToken = undefined;
    // the token already reached the gateway, so the generation counts as committed (as a stream's
    // would) and is not retried on another variant: the client gets a 500 in the OpenAI shape
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(await res.json()).toEqual({
      error: {
        message: "The server had an error while processing your request.",
        type: "server_error",
        param: null,
        code: "internal_error",
      },
    });
    await answersAgain(2);
  }, 120_000);
});
