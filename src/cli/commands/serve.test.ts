/**
 * `tritgate serve` as a user runs it: a real process, real HTTP on loopback, the official
 * client, and a clean stop on SIGTERM.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import {
  exited,
  familyConfig,
  ROOT,
  type ServeProcess,
  startServeProcess,
  until,
} from "../../../test/helpers/serve-process.js";
import { tinyFamily } from "../../../test/helpers/tiny-family.js";
import { openDatabase } from "../../db/index.js";

const running: ChildProcess[] = [];

/** Starts `tritgate serve` from the sources (killed after the test) and waits for its "serving" line. */
async function serve(args: string[]): Promise<ServeProcess> {
  const started = startServeProcess(args);
  started.then((s) => running.push(s.child)).catch(() => undefined);
  return started;
}

/** SIGTERM, then the exit code — or the signal's name when the process died of one instead. */
function stop(child: ChildProcess): Promise<number | string | null> {
  const done = exited(child);
  child.kill("SIGTERM");
  return done;
}

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("tritgate serve", () => {
  it("serves with the embedded config, prints the demo key once, reports variants, stops on SIGTERM", async () => {
    const state = mkdtempSync(join(tmpdir(), "tg-serve-state-"));
    const first = await serve(["--port", "0", "--state-dir", state]);
    const key = await until(
      async () => /demo key for tenant demo \(shown once, stored hashed\): (tg-\S+)/.exec(first.output())?.[1],
      "the demo key",
    );
    expect((await fetch(`${first.url}/health/live`)).status).toBe(200);
    const ready = await until(async () => {
      const body = (await (await fetch(`${first.url}/health/ready`)).json()) as { variants: Array<{ state: string }> };
      return body.variants.every((v) => v.state !== "loading") ? body : undefined;
    }, "variants to finish loading");
    expect(ready.variants.map((v) => (v as unknown as { name: string }).name).sort()).toEqual([
      "nano-b158",
      "nano-fp32",
    ]);
    // the committed nano models load, and their measured cards give the router its quality scores
    expect(ready.variants.map((v) => v.state)).toEqual(["ready", "ready"]);
    const unauthorized = await fetch(`${first.url}/v1/models`);
    expect(unauthorized.status).toBe(401);
    const models = await fetch(`${first.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(models.status).toBe(200);
    const listed = (await models.json()) as { data: Array<{ id: string; quality?: number }> };
    const card = JSON.parse(readFileSync(join(ROOT, "models/nano/nano-b158/card.json"), "utf8")) as {
      quality: { quality: number };
    };
    expect(listed.data.find((m) => m.id === "nano-b158")?.quality).toBe(card.quality.quality);
    const client = new OpenAI({ apiKey: key, baseURL: `${first.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: "auto",
      messages: [{ role: "user", content: "Tell me about the ship." }],
      max_tokens: 24,
      seed: 3,
    });
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    expect(metrics).toMatch(/^tritgate_requests_total\{[^}]*tier="standard"[^}]*\} 1$/m);
    expect(await stop(first.child)).toBe(0);
    // SIGTERM drained the recorder: the answered request is in the embedded database, once, and no key is
    const database = await openDatabase({ url: "", stateDir: state });
    try {
      const rows = await database.rows<{ request_id: string; variant: string; status: number }>(
        sql`select request_id, variant, status from requests`,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]?.status).toBe(200);
      const dump = JSON.stringify(await database.rows(sql`select * from requests`));
      expect(dump).not.toContain(key);
    } finally {
      await database.close();
    }

    const second = await serve(["--port", "0", "--state-dir", state]);
    await until(async () => (/variant nano-fp32 (NOT )?ready/.test(second.output()) ? true : undefined), "startup");
    expect(second.output()).not.toMatch(/demo key|admin token/);
    const again = await fetch(`${second.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.status).toBe(200); // the stored hash still authenticates the key shown the first time
    expect(await stop(second.child)).toBe(0);
  }, 400_000); // two starts, each opening PGlite and loading both models: slow on a loaded 2-core machine

  it("answers the official client from a BitNet variant and its ONNX twin named in a config file", async () => {
    const family = await tinyFamily();
    const dir = mkdtempSync(join(tmpdir(), "tg-serve-config-"));
    const config = join(dir, "tritgate.yaml");
    writeFileSync(
      config,
      familyConfig(
        "tiny",
        { name: "tiny-b158", path: family.gguf, prefill: 500, decode: 50 },
        { name: "tiny-fp32", path: family.onnx, prefill: 200, decode: 20, coresPerRequest: 2 },
      ),
    );
    const served = await serve(["--config", config]);
    const key = await until(
      async () => /demo key for tenant acme \(shown once, stored hashed\): (tg-\S+)/.exec(served.output())?.[1],
      "the demo key",
    );
    await until(async () => ((await fetch(`${served.url}/health/ready`)).status === 200 ? true : undefined), "ready");
    const client = new OpenAI({ apiKey: key, baseURL: `${served.url}/v1`, maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: "auto", messages: [{ role: "user", content: "hello" }], max_tokens: 8, seed: 1 })
      .withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]?.message.role).toBe("assistant");
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    expect(["tiny-b158", "tiny-fp32"]).toContain(response.headers.get("x-tritgate-variant"));
    const code = await stop(served.child);
    expect(code, served.output().slice(-3000)).toBe(0);
  }, 400_000);

  it("a first start that cannot listen leaves no secret nobody saw; the next one that serves shows both", async () => {
    const state = mkdtempSync(join(tmpdir(), "tg-serve-first-"));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(serve(["--port", String(port), "--state-dir", state])).rejects.toThrow(
        /serve exited with 1[\s\S]*cannot listen/,
      );
    } finally {
      taken.close();
    }
    const database = await openDatabase({ url: "", stateDir: state });
    try {
      // the database was opened and seeded, but neither the demo key nor an admin token was made
      expect(await database.rows(sql`select id from tenants where id = 'demo'`)).toHaveLength(1);
      expect(await database.rows(sql`select id from api_keys`)).toEqual([]);
      expect(await database.rows(sql`select name from settings where name like 'admin%'`)).toEqual([]);
    } finally {
      await database.close();
    }

    const served = await serve(["--port", "0", "--state-dir", state]);
    const key = await until(
      async () => /demo key for tenant demo \(shown once, stored hashed\): (tg-\S+)/.exec(served.output())?.[1],
      "the demo key",
    );
    const token = /admin token for \S+ \(shown once, stored hashed\): (tgadmin-\S+)/.exec(served.output())?.[1];
    expect(token).toBeDefined();
    const models = await fetch(`${served.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(models.status).toBe(200);
    const tenants = await fetch(`${served.url}/admin/tenants`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await tenants.json()) as { data: { id: string }[] }).data.map((t) => t.id)).toContain("demo");
    // while it serves, a second gateway may not open the same embedded database
    await expect(serve(["--port", "0", "--state-dir", state])).rejects.toThrow(
      /serve exited with 1[\s\S]*already serves/,
    );
    expect(await stop(served.child)).toBe(0);
  }, 400_000);

  it("a broken config file is a clear error and a non-zero exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-serve-bad-"));
    const config = join(dir, "bad.yaml");
    writeFileSync(config, "server:\n  port: fast\n");
    await expect(serve(["--config", config])).rejects.toThrow(/serve exited with 1[\s\S]*bad\.yaml:2/);
  });
});
