/**
 * A truncated model file at start, as an interrupted download leaves it: `tritgate serve` (a real
 * process) with a config whose ternary variant is the first half of the committed nano-b158 GGUF and
 * whose other variant is the real nano-fp32 ONNX. The process starts and stays up, `/health/ready`
 * names the broken variant as failed with why, and the ONNX variant answers.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { exited, familyConfig, ROOT, type ServeProcess, startServeProcess, until } from "../helpers/serve-process.js";

let gateway: ServeProcess | undefined;
afterEach(() => {
  if (gateway && gateway.child.exitCode === null) gateway.child.kill("SIGKILL");
});

interface ReadyBody {
  status: string;
  variants: { name: string; state: string; error: string | null }[];
}

describe("a truncated model file at start", () => {
  it("leaves that variant failed and reported on /health/ready while the other serves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-corrupt-"));
    const whole = readFileSync(join(ROOT, "models/nano/nano-b158/model.gguf"));
    const truncated = join(dir, "nano-b158-truncated.gguf");
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const onnx = join(ROOT, "models/nano/nano-fp32/model.onnx");
    const config = join(dir, "tritgate.yaml");
    writeFileSync(
      config,
      familyConfig(
        "nano",
        { name: "nano-b158", path: truncated, prefill: 6500, decode: 2100 },
        { name: "nano-fp32", path: onnx, prefill: 3800, decode: 450 },
      ),
    );
    gateway = await startServeProcess(["--config", config]);
    const { url, child, output } = gateway;
    const key = await until(
      () => /demo key for tenant acme \(shown once, stored hashed\): (tg-\S+)/.exec(output())?.[1],
      "the demo key",
    );

    // both variants have settled: the ONNX one ready, the truncated one failed
    const ready = await until(async () => {
      const res = await fetch(`${url}/health/ready`);
      const body = (await res.json()) as ReadyBody;
      return body.variants.every((v) => v.state !== "loading") ? { status: res.status, body } : undefined;
    }, "both variants to finish loading");
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("ready");
    const byName = new Map(ready.body.variants.map((v) => [v.name, v]));
    expect(byName.get("nano-fp32")).toMatchObject({ state: "ready", error: null });
    const broken = byName.get("nano-b158");
    expect(broken?.state).toBe("failed");
    expect(broken?.error).toContain(truncated);
    expect(broken?.error).toMatch(/truncated: tensor \S+ needs bytes/);

    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    for (const model of ["auto", "nano"]) {
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: "user", content: "hello" }], max_tokens: 8, seed: 1 })
        .withResponse();
      expect(data.choices[0]?.message.role).toBe("assistant");
      expect(data.usage?.completion_tokens).toBeGreaterThan(0);
      expect(response.headers.get("x-tritgate-variant")).toBe("nano-fp32");
    }
    // pinned to the broken variant: a clean 503, not a crash
    const pinned = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-b158", messages: [{ role: "user", content: "hello" }], max_tokens: 8 }),
    });
    expect(pinned.status).toBe(503);
    expect(pinned.headers.get("x-request-id")).toMatch(/^req_/);
    const refusal = (await pinned.json()) as { error: Record<string, unknown> };
    expect(Object.keys(refusal.error).sort()).toEqual(["code", "message", "param", "type"]);

    expect(child.exitCode).toBeNull();
    child.kill("SIGTERM");
    expect(await exited(child), output().slice(-3000)).toBe(0);
  }, 300_000);
});
