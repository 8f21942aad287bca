/**
 * An engine worker killed mid-generation: the committed nano models on worker threads behind the
 * gateway on real HTTP, and the ternary variant's worker crashed (the pool's `crash()` hook, which
 * makes the thread exit abnormally) while it answers. A stream that has sent content ends with an
 * SSE `engine_failure` error event (the client has part of the answer, so there is no failover); a
 * whole-body request whose generation had begun fails over to the next variant of its decision's
 * chain (nothing was sent yet) and the decision records that chain; the worker restarts and the
 * variant answers again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VariantWorker } from "../../src/engines/pool/index.js";
import { MemoryRecorder } from "../../src/server/recorder.js";
import { type NanoGateway, startNanoGateway } from "../../src/server/testkit.js";
import type { VariantRuntime } from "../../src/server/types.js";
import { withGenerate } from "../helpers/generating.js";
import { until } from "../helpers/serve-process.js";

const VICTIM = "nano-b158";
/** the other variant of the family: the standard tier's fallback when the victim fails */
const SURVIVOR = "nano-fp32";
const recorder = new MemoryRecorder();
let nano: NanoGateway;
let victim: VariantWorker;
/** called by a worker's wrapper on the first token of a generation, on the gateway's thread */
let onFirstToken: ((variant: string) => void) | undefined;

/** Crashes the victim on the first token of its next generation (once; other variants' tokens pass). */
function crashVictimOnItsFirstToken(): void {
  onFirstToken = (variant) => {
    if (variant !== VICTIM) return;
    onFirstToken = undefined;
    victim.crash();
  };
}

/**
 * The worker as the gateway sees it, except that generations ignore the end-of-sequence token (the
 * crash must land while the worker is still generating, whatever the model would have said), and the
 * first token of each generation is reported to `onFirstToken`.
 */
function ignoringEosReporting(worker: VariantWorker): VariantRuntime {
  return withGenerate(worker, (request, onToken, signal) => {
    let first = true;
    return worker.generate(
      { ...request, ignoreEos: true },
      (token) => {
        onToken?.(token);
        if (first) {
          first = false;
          onFirstToken?.(worker.name);
        }
      },
      signal,
    );
  });
}

beforeAll(async () => {
  nano = await startNanoGateway({ recorder }, ignoringEosReporting);
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
    crashVictimOnItsFirstToken();
    const res = await post({ stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.headers.get("x-tritgate-variant")).toBe(VICTIM);
    // the stream must end by itself (the server closes it); a hang fails on the test's timeout
    const text = await res.text();
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => e.slice("data: ".length));
    expect(events.at(-1)).not.toBe("[DONE]");
    expect(text).not.toMatch(/"finish_reason":"(stop|length)"/);
    // the last event is the OpenAI-shaped error naming the engine's failure, then the server closes the stream
    const failure = JSON.parse(events.at(-1) as string) as { error: Record<string, unknown> };
    expect(failure).toEqual({
      error: { message: expect.stringContaining(VICTIM), type: "server_error", param: null, code: "engine_failure" },
    });
    // every event before it is a chunk of the answer
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: unknown[] });
    for (const chunk of chunks) expect(chunk.object).toBe("chat.completion.chunk");
    expect(text).toContain('"delta":{"content":"');
    await answersAgain(1);
  }, 120_000);

  it("fails a whole-body request in flight on the crashed variant over to the next variant, then serves again", async () => {
    // crashed on the first token the victim sends back, so its generation is surely still running
    crashVictimOnItsFirstToken();
    // routed (not pinned): the standard tier picks the ternary victim first, with fp32 behind it
    const res = await post({ model: "nano" });
    // nothing had been sent to the client, so the answer was not committed: fp32 answers it whole
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-variant")).toBe(SURVIVOR);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
    const decisionId = res.headers.get("x-tritgate-decision");
    const entry = await until(() => recorder.latest().find((e) => e.decision?.decisionId === decisionId), "the record");
    expect(entry?.decision).toMatchObject({ chosen: VICTIM, fallbackChain: [VICTIM, SURVIVOR] });
    expect(entry?.request).toMatchObject({ status: 200, variant: SURVIVOR, errorCode: null });
    await answersAgain(2);
  }, 120_000);
});
