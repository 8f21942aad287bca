import { describe, expect, it } from "vitest";
import { EngineError } from "../../engines/pool/index.js";
import {
  answers,
  chat,
  drain,
  failsAfterOneToken,
  failsAtOnce,
  type Script,
  setup,
  token,
} from "../outcome/testkit.js";

/** Fails after one token on its first call (whichever variant that is), then answers `text`. */
function failsFirstAfterOneToken(text: string): Script {
  let calls = 0;
  return async (onToken, signal, request) => {
    if (calls++ > 0) return answers(text)(onToken, signal, request);
    onToken(token("x"));
    throw new EngineError("tiny-b158", "Error", "kernel exploded");
  };
}

/**
 * When an answer is committed: a whole answer only once it is sent, so an engine failure after the
 * first token still falls back; a stream once its first chunk is out, so it then ends with an error event.
 */
describe("fallback after the first token", () => {
  it("a whole answer whose variant fails after its first token is answered by the next variant of the chain", async () => {
    const t = setup(failsFirstAfterOneToken("fine"));
    const res = await t.post(chat());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    // nothing of the failed attempt leaks into the answer
    expect(body.choices[0]!.message.content).toBe("fine");
    expect(t.seen[0]!.tried).toHaveLength(2);
    expect(res.headers.get("x-tritgate-variant")).toBe(t.seen[0]!.tried[1]);
  });

  it("a whole answer that fails on every variant is a 503 engine_failure naming both tried", async () => {
    const t = setup(failsAfterOneToken);
    const res = await t.post(chat());
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("engine_failure");
    expect(t.seen[0]).toMatchObject({ status: 503, error: "engine_failure" });
    expect(t.seen[0]!.tried).toHaveLength(2);
  });

  it("a stream whose variant fails after its first chunk ends with an engine_failure event, no fallback", async () => {
    const t = setup(failsFirstAfterOneToken("fine"));
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    const text = await drain(res.body!.getReader());
    expect(text).toContain('"code":"engine_failure"');
    expect(text).not.toContain("fine");
    expect(t.seen[0]!.tried).toHaveLength(1);
  });

  it("a cascade's held tokens commit nothing: a stream failing while they are held falls back unseen", async () => {
    const t = setup(failsFirstAfterOneToken("better"), "cascade");
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    const text = await drain(res.body!.getReader());
    const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("");
    expect(content).toBe("better");
    expect(text).not.toContain('"error"');
  });
});

/**
 * The cascade, written once for whole and streamed answers (tier "cascade" always escalates:
 * every mean log-probability is below its threshold 0).
 */
describe("cascade", () => {
  it("a whole answer escalates to the better variant", async () => {
    const t = setup({ "tiny-b158": answers("cheap"), "tiny-fp32": answers("better") }, "cascade");
    const res = await t.post(chat());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-escalated")).toBe("true");
    expect(res.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]!.message.content).toBe("better");
    expect(t.seen[0]).toMatchObject({ escalated: true, tried: ["tiny-b158", "tiny-fp32"] });
  });

  it("a whole answer keeps the cheap answer when the better variant fails", async () => {
    const t = setup({ "tiny-b158": answers("cheap"), "tiny-fp32": failsAtOnce }, "cascade");
    const res = await t.post(chat());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-variant")).toBe("tiny-b158");
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]!.message.content).toBe("cheap");
  });

  it("a streamed answer drops the unsure cheap tokens unseen and streams the better variant from its start", async () => {
    const t = setup({ "tiny-b158": answers("cheap"), "tiny-fp32": answers("better") }, "cascade");
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tritgate-variant")).toBe("tiny-fp32");
    const text = await drain(res.body!.getReader());
    const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("");
    expect(content).toBe("better");
  });

  it("a streamed answer whose better variant fails before its first token gets the failure's status", async () => {
    const t = setup({ "tiny-b158": answers("cheap"), "tiny-fp32": failsAtOnce }, "cascade");
    const res = await t.post(chat({ stream: true }));
    expect(res.status).toBe(503);
    expect(res.headers.get("x-tritgate-escalated")).toBe("true");
  });
});

/** What the engine is told about reading logprobs: only the client's logprobs or the cascade's judgement need them. */
describe("logprobs asked of the engine", () => {
  /** answers `text`, noting each request's `logprobs` */
  function noting(text: string, seen: (boolean | undefined)[]): Script {
    return (onToken, signal, request) => {
      seen.push(request.logprobs);
      return answers(text)(onToken, signal, request);
    };
  }

  it("a plain request asks for none", async () => {
    const asked: (boolean | undefined)[] = [];
    const t = setup(noting("fine", asked));
    expect((await t.post(chat())).status).toBe(200);
    expect(asked).toEqual([false]);
  });

  it("a request with logprobs asks for them", async () => {
    const asked: (boolean | undefined)[] = [];
    const t = setup(noting("fine", asked));
    expect((await t.post(chat({ logprobs: true, top_logprobs: 2 }))).status).toBe(200);
    expect(asked).toEqual([true]);
  });

  it("a cascade asks the cheap pass, which it judges, and not the better variant", async () => {
    const cheap: (boolean | undefined)[] = [];
    const better: (boolean | undefined)[] = [];
    const t = setup({ "tiny-b158": noting("cheap", cheap), "tiny-fp32": noting("better", better) }, "cascade");
    const res = await t.post(chat());
    expect(res.headers.get("x-tritgate-escalated")).toBe("true");
    expect(cheap).toEqual([true]);
    expect(better).toEqual([false]);
  });
});
