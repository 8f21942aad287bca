import { describe, expect, it } from "vitest";
import { answers, chat, drain, failsAtOnce, setup } from "../outcome/testkit.js";

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
