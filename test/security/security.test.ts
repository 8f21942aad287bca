/**
 * The gateway's security promises, tested as a user runs it: `tritgate serve` as a real process with
 * the committed nano models, keys made with `tritgate keys`, real HTTP on loopback, the official
 * client where one is involved, debug logging captured whole. Two tenants (alpha on the standard tier,
 * beta on the ternary-only free tier); `/metrics`, `/ui` and `/admin` on a listener of their own with a
 * token. Keys: 401 for none, malformed, unknown and revoked; 403 for a variant outside the tier; admin
 * and other tenants' data refused; stored hashed; never logged. Limits: body, header count and size,
 * message count, prompt tokens, each a 4xx naming the limit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { hash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import OpenAI, { AuthenticationError, PermissionDeniedError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.js";
import { createGateway } from "../../src/server/index.js";
import { MapDirectory, tierConfig } from "../../src/server/testkit.js";
import { createMemoryRateLimiter } from "../../src/tenants/index.js";
import { expectNothingOfOtherTenant, TENANT_SCOPED_READS } from "./tenant-reads.js";

const ROOT = join(import.meta.dirname, "../..");
const ADMIN_TOKEN = "admin-token-Xq7vR2mK9pLw4Zt8";
const METRICS_TOKEN = "metrics-token-Hn3bV6cJ1sDf5Gy0";
/** in no tokenizer's vocabulary as one piece, so finding it anywhere means the prompt was copied there */
const PROMPT = "Quokka sapphire lighthouse 7391 whispers about the harbour";
const UNKNOWN_KEY = "tg-NeverIssuedKey0000SecretTail9999";
const BODY_LIMIT = 131_072;

interface Gateway {
  readonly child: ChildProcess;
  readonly api: string;
  readonly operations: string;
  readonly output: () => string;
}

/** Runs CLI command lines in one process (from the sources, as `npx tsx`), returning their stdout. */
function cli(lines: string[][], env: NodeJS.ProcessEnv): Promise<string> {
  const script = `import("./src/cli/main.ts").then(async (m) => { for (const line of ${JSON.stringify(lines)}) { const code = await m.run(line); if (code !== 0) process.exit(code); } })`;
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, env, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`cli ${code}: ${stderr}`)))),
  );
}

function startGateway(config: string, env: NodeJS.ProcessEnv): Promise<Gateway> {
  const script = `import("./src/cli/main.ts").then(async (m) => process.exit(await m.run(${JSON.stringify(["serve", "--config", config])})))`;
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, env, stdio: "pipe" });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const api = /serving (http:\/\/\S+)\/v1/.exec(output)?.[1];
      const operations = /serving \/metrics, \/ui, \/dashboards and \/admin on (http:\/\/\S+)/.exec(output)?.[1];
      if (api && operations) {
        clearTimeout(timer);
        resolve({ child, api, operations, output: () => output });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
}

function stop(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal));
    child.kill("SIGTERM");
  });
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every file under `dir`, as bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path, bytes: readFileSync(path) }));
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An OpenAI-shaped refusal: the status, the four fields, an x-request-id. */
async function refusal(res: Response, status: number): Promise<ErrorBody["error"]> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("x-request-id")).toMatch(/\S/);
  const body = JSON.parse(text) as ErrorBody;
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return body.error;
}

/** A raw HTTP/1.1 request (headers fetch would refuse to send), answered as status and body. */
function rawRequest(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "GET", headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("security, against `tritgate serve` with the nano models", () => {
  const dir = mkdtempSync(join(tmpdir(), "tg-security-"));
  const stateDir = join(dir, "state");
  const configPath = join(dir, "tritgate.yaml");
  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, TRITGATE_LOG_LEVEL: "debug" };
    for (const name of ["HOST", "PORT", "TRITGATE_CONFIG", "TRITGATE_STATE_DIR", "DATABASE_URL", "REDIS_URL"])
      delete e[name];
    return e;
  };
  const keys = { alpha: "", beta: "", revoked: "" };
  let revokedId = "";
  let gateway: Gateway;
  const betaRequestIds: string[] = [];
  let stopped: number | string | null = null;

  const chat = (key: string, body: Record<string, unknown>) =>
    fetch(`${gateway.api}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    writeFileSync(
      configPath,
      [
        `server: { host: 127.0.0.1, port: 0, stateDir: state, bodyLimitBytes: ${BODY_LIMIT}, adminToken: ${ADMIN_TOKEN},`,
        `          observability: { host: 127.0.0.1, port: 0, token: ${METRICS_TOKEN} } }`,
        "tiers:",
        "  - { name: free, qualityFloor: 0.1, ttftSlaMs: 60000, totalSlaMs: 600000, allowedVariants: [nano-b158],",
        "      onOverload: degrade, requestsPerMinute: 1000, tokensPerMinute: 20000, maxOutputTokens: 32 }",
        "  - { name: standard, qualityFloor: 0.1, ttftSlaMs: 60000, totalSlaMs: 600000,",
        "      onOverload: degrade, requestsPerMinute: 1000, tokensPerMinute: 1000000, maxOutputTokens: 32 }",
        "variants:",
        `  - { name: nano-b158, family: nano, engine: bitnet, path: ${join(ROOT, "models/nano/nano-b158/model.gguf")},`,
        "      card: { prefillTokensPerSecond: 6500, decodeTokensPerSecond: 2100 }, pricePerCoreHour: 0.04, wattsPerCore: 10 }",
        `  - { name: nano-fp32, family: nano, engine: onnx, path: ${join(ROOT, "models/nano/nano-fp32/model.onnx")},`,
        "      card: { prefillTokensPerSecond: 3800, decodeTokensPerSecond: 450 }, pricePerCoreHour: 0.04, wattsPerCore: 10 }",
        "families: [{ name: nano, reference: nano-fp32 }]",
        "threads: 1",
        "tenants:",
        "  - { id: alpha, name: Alpha, tier: standard }",
        "  - { id: beta, name: Beta, tier: free }",
      ].join("\n"),
    );
    const created = await cli(
      [
        ["keys", "create", "--tenant", "alpha", "--config", configPath, "--json"],
        ["keys", "create", "--tenant", "beta", "--config", configPath, "--json"],
        ["keys", "create", "--tenant", "alpha", "--config", configPath, "--json"],
      ],
      env(),
    );
    const [alpha, beta, revoked] = created
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { key: string; id: string });
    if (!alpha || !beta || !revoked) throw new Error(`keys create printed ${created}`);
    keys.alpha = alpha.key;
    keys.beta = beta.key;
    keys.revoked = revoked.key;
    revokedId = revoked.id;
    gateway = await startGateway(configPath, env());
    await until(
      async () => ((await fetch(`${gateway.api}/health/ready`)).status === 200 ? true : undefined),
      "a variant to be ready",
      120_000,
    );
  }, 240_000);

  afterAll(async () => {
    if (gateway && stopped === null) await stop(gateway.child);
  });

  describe("keys", () => {
    it("no key, a malformed header, an unknown key: 401 invalid_api_key, OpenAI-shaped", async () => {
      const url = `${gateway.api}/v1/models`;
      const cases: (Record<string, string> | undefined)[] = [
        undefined,
        { authorization: "Bearer" },
        { authorization: `Basic ${Buffer.from(`user:${keys.alpha}`).toString("base64")}` },
        { authorization: `Bearer ${keys.alpha} extra` },
        { authorization: keys.alpha },
        { authorization: `Bearer ${"x".repeat(300)}` },
        { authorization: `Bearer ${UNKNOWN_KEY}` },
      ];
      for (const headers of cases) {
        const error = await refusal(await fetch(url, headers ? { headers } : {}), 401);
        expect(error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null });
        expect(error.message).not.toContain(keys.alpha);
        expect(error.message).not.toContain(UNKNOWN_KEY);
      }
      const client = new OpenAI({ apiKey: UNKNOWN_KEY, baseURL: `${gateway.api}/v1`, maxRetries: 0 });
      await expect(
        client.chat.completions.create({ model: "auto", messages: [{ role: "user", content: PROMPT }] }),
      ).rejects.toBeInstanceOf(AuthenticationError);
    });

    it("a revoked key: 200 before `tritgate keys revoke`, 401 after, while the gateway runs", async () => {
      const models = () => fetch(`${gateway.api}/v1/models`, { headers: { authorization: `Bearer ${keys.revoked}` } });
      expect((await models()).status).toBe(200);
      // the gateway holds its PGlite: with the admin token the CLI revokes through the gateway's admin API
      await cli([["keys", "revoke", revokedId, "--config", configPath]], {
        ...env(),
        TRITGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      });
      const refused = await until(async () => {
        const res = await models();
        return res.status === 401 ? res : undefined;
      }, "the revocation to be picked up");
      expect(await refusal(refused, 401)).toMatchObject({ code: "invalid_api_key" });
      expect(
        (await fetch(`${gateway.api}/v1/models`, { headers: { authorization: `Bearer ${keys.alpha}` } })).status,
      ).toBe(200);
    });

    it("a variant outside the tier: 403 permission_error (the official client's PermissionDeniedError)", async () => {
      const beta = new OpenAI({ apiKey: keys.beta, baseURL: `${gateway.api}/v1`, maxRetries: 0 });
      const refused = await beta.chat.completions
        .create({ model: "nano-fp32", messages: [{ role: "user", content: PROMPT }], max_tokens: 4 })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).toBeInstanceOf(PermissionDeniedError);
      expect(refused).toMatchObject({ status: 403, type: "permission_error", code: "model_not_allowed" });
      // the variant it may use answers the same key
      const { data, response } = await beta.chat.completions
        .create({ model: "nano-b158", messages: [{ role: "user", content: PROMPT }], max_tokens: 4, seed: 1 })
        .withResponse();
      expect(data.choices[0]?.message.role).toBe("assistant");
      betaRequestIds.push(response.headers.get("x-request-id") ?? "");
    });

    it("admin routes refuse tenant keys (and the observability token); the admin token opens them", async () => {
      const decisions = `${gateway.operations}/admin/decisions`;
      for (const key of [keys.alpha, keys.beta]) {
        const error = await refusal(await fetch(decisions, { headers: { authorization: `Bearer ${key}` } }), 403);
        expect(error.code).toBe("admin_only");
      }
      const token = await refusal(
        await fetch(decisions, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
        401,
      );
      expect(token.code).toBe("invalid_api_key");
      await refusal(await fetch(decisions), 401);
      const admin = await fetch(decisions, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(admin.status).toBe(200);
      // on the API listener the admin surface is not there at all, even with the admin token
      const elsewhere = await fetch(`${gateway.api}/admin/decisions`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect((await refusal(elsewhere, 404)).code).toBe("not_found");
    });

    it("a tenant cannot read another tenant's data on any tenant-data route", async () => {
      // beta has made a request; the admin sees it, so the markers below are real
      const res = await chat(keys.beta, {
        model: "auto",
        messages: [{ role: "user", content: PROMPT }],
        max_tokens: 4,
      });
      expect(res.status).toBe(200);
      betaRequestIds.push(res.headers.get("x-request-id") ?? "");
      await res.text();
      const asAdmin = await until(async () => {
        const r = await fetch(`${gateway.operations}/admin/decisions?limit=10000`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        const text = await r.text();
        return betaRequestIds.every((id) => text.includes(id)) ? text : undefined;
      }, "beta's requests in the decision log");
      expect(asAdmin).toContain('"beta"');
      const bases = { api: gateway.api, operations: gateway.operations };
      for (const read of TENANT_SCOPED_READS) {
        await expectNothingOfOtherTenant(bases, read, keys.alpha, { id: "beta", requestIds: betaRequestIds });
      }
    });
  });

  describe("limits, each a 4xx naming it", () => {
    it(`a body over server.bodyLimitBytes (${BODY_LIMIT}): 413 request_too_large`, async () => {
      const content = "a".repeat(BODY_LIMIT);
      const error = await refusal(
        await chat(keys.alpha, { model: "auto", messages: [{ role: "user", content }] }),
        413,
      );
      expect(error.code).toBe("request_too_large");
      expect(error.message).toContain(`${BODY_LIMIT} bytes`);
    });

    it("more than 200 headers: 431 too_many_headers; headers over 16 KiB: 431 headers_too_large", async () => {
      const many: Record<string, string> = { authorization: `Bearer ${keys.alpha}` };
      for (let i = 0; i < 210; i++) many[`x-filler-${i}`] = "1";
      const counted = await rawRequest(`${gateway.api}/v1/models`, many);
      expect(counted.status).toBe(431);
      expect(JSON.parse(counted.body)).toMatchObject({ error: { code: "too_many_headers" } });
      expect((JSON.parse(counted.body) as ErrorBody).error.message).toContain("at most 200");
      const big = await rawRequest(`${gateway.api}/v1/models`, {
        authorization: `Bearer ${keys.alpha}`,
        "x-filler": "b".repeat(20_000),
      });
      expect(big.status).toBe(431);
      expect(JSON.parse(big.body)).toMatchObject({ error: { code: "headers_too_large" } });
      expect((JSON.parse(big.body) as ErrorBody).error.message).toContain("16384 bytes");
    });

    it("more than 2048 messages: 400 naming messages and the count", async () => {
      const messages = Array.from({ length: 2049 }, () => ({ role: "user", content: "hi" }));
      const error = await refusal(await chat(keys.alpha, { model: "auto", messages, max_tokens: 1 }), 400);
      expect(error).toMatchObject({ param: "messages", type: "invalid_request_error" });
      expect(error.message).toContain("at most 2048 messages");
    });

    it("a prompt past the model's context: 400 context_length_exceeded naming the context", async () => {
      const error = await refusal(
        await chat(keys.alpha, { model: "auto", messages: [{ role: "user", content: `${PROMPT} `.repeat(60) }] }),
        400,
      );
      expect(error.code).toBe("context_length_exceeded");
      expect(error.message).toMatch(/maximum context length is 256 tokens/);
    });

    it("a prompt past the tier's tokens per minute: 400 request_exceeds_tokens_per_minute naming it", async () => {
      const error = await refusal(
        await chat(keys.beta, { model: "auto", messages: [{ role: "user", content: "the ".repeat(25_000) }] }),
        400,
      );
      expect(error.code).toBe("request_exceeds_tokens_per_minute");
      expect(error.message).toContain("20000");
    });
  });

  describe("observability on its own listener, behind its token", () => {
    it("/metrics, /ui and /dashboards need the token (Bearer or Basic), and are not on the API listener", async () => {
      for (const path of ["/metrics", "/ui", "/ui/data.json", "/dashboards"]) {
        const url = `${gateway.operations}${path}`;
        const refused = await fetch(url);
        expect((await refusal(refused, 401)).code).toBe("invalid_api_key");
        expect(refused.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
        await refusal(await fetch(url, { headers: { authorization: `Bearer ${keys.alpha}` } }), 401);
        await refusal(await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 401);
        expect((await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
        const basic = Buffer.from(`prometheus:${METRICS_TOKEN}`).toString("base64");
        expect((await fetch(url, { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
        const onApi = await fetch(`${gateway.api}${path}`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        expect((await refusal(onApi, 404)).code).toBe("not_found");
      }
      // the API listener keeps the health probes
      expect((await fetch(`${gateway.api}/health/live`)).status).toBe(200);
    });
  });

  describe("nothing secret leaves the gateway", () => {
    it("prompts and keys are in neither the logs (at debug level) nor /metrics nor /ui; keys are stored hashed", async () => {
      // traffic that carries the prompt and the keys everywhere they could leak from: answered, streamed,
      // refused by validation, by the tier, by an unknown key
      const alpha = new OpenAI({ apiKey: keys.alpha, baseURL: `${gateway.api}/v1`, maxRetries: 0 });
      await alpha.chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content: PROMPT }],
        max_tokens: 8,
        seed: 2,
      });
      const stream = await alpha.chat.completions.create({
        model: "auto",
        messages: [
          { role: "system", content: PROMPT },
          { role: "user", content: PROMPT },
        ],
        max_tokens: 8,
        stream: true,
      });
      for await (const _ of stream) {
        // drained
      }
      await (
        await chat(keys.alpha, { model: "auto", messages: [{ role: "user", content: PROMPT }], temperature: 9 })
      ).text();
      await (await chat(keys.beta, { model: "nano-fp32", messages: [{ role: "user", content: PROMPT }] })).text();
      await (await chat(UNKNOWN_KEY, { model: "auto", messages: [{ role: "user", content: PROMPT }] })).text();
      await (
        await fetch(`${gateway.api}/v1/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${keys.alpha}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "auto", prompt: PROMPT, max_tokens: 4 }),
        })
      ).text();

      const token = { authorization: `Bearer ${METRICS_TOKEN}` };
      const metrics = await (await fetch(`${gateway.operations}/metrics`, { headers: token })).text();
      const ui = await (await fetch(`${gateway.operations}/ui/data.json`, { headers: token })).text();
      expect(metrics).toMatch(/^tritgate_requests_total\{/m);
      stopped = await stop(gateway.child);
      expect(stopped).toBe(0);
      const logs = gateway.output();
      expect(logs).toMatch(/\] debug /); // debug lines were written, so the check below saw them
      const secrets = [PROMPT, "Quokka", keys.alpha, keys.beta, keys.revoked, UNKNOWN_KEY, ADMIN_TOKEN, METRICS_TOKEN];
      for (const [where, text] of [
        ["logs", logs],
        ["/metrics", metrics],
        ["/ui/data.json", ui],
      ] as const) {
        for (const secret of secrets)
          expect(text.includes(secret), `${where} holds ${secret.slice(0, 12)}…`).toBe(false);
      }

      // at rest: no file in the state dir (the key store, PGlite's own files) holds a plaintext key…
      const issued = [keys.alpha, keys.beta, keys.revoked];
      const files = filesUnder(stateDir);
      expect(files.some((f) => f.path.includes("pglite"))).toBe(true);
      for (const { path, bytes } of files)
        for (const key of issued) expect(bytes.includes(key), `${path} holds a key`).toBe(false);
      // …while their hashes are there (the search looked where keys are kept)
      const everything = Buffer.concat(files.map((f) => f.bytes));
      for (const key of issued) expect(everything.includes(hash("sha256", key, "hex"))).toBe(true);
      // and no table of the database holds one either
      const database = await openDatabase({ url: "", stateDir });
      try {
        const tables = await database.rows<{ name: string }>(
          sql`select table_name as name from information_schema.tables where table_schema = 'public'`,
        );
        expect(tables.map((t) => t.name)).toContain("requests");
        for (const { name } of tables) {
          const dump = JSON.stringify(await database.rows(sql`select * from ${sql.identifier(name)}`));
          for (const key of issued) expect(dump.includes(key), `table ${name} holds a key`).toBe(false);
        }
      } finally {
        await database.close();
      }
    });
  });
});

describe("observability guarded on the API listener (no port of its own)", () => {
  const directory = new MapDirectory([tierConfig({ name: "standard" })]);
  const key = directory.addTenant("acme", "standard");
  const build = (token?: string) =>
    createGateway({
      directory,
      limiter: createMemoryRateLimiter(),
      variants: [],
      adminToken: ADMIN_TOKEN,
      ...(token ? { observability: { token } } : {}),
    }).app;

  it("with a token: /metrics, /ui and /dashboards refuse without it and answer with it", async () => {
    const app = build(METRICS_TOKEN);
    for (const path of ["/metrics", "/ui", "/dashboards"]) {
      expect((await app.request(path)).status).toBe(401);
      expect((await app.request(path, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
      expect((await app.request(path, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
    }
    // the token opens nothing else: /admin keeps its own
    expect(
      (await app.request("/admin/decisions", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status,
    ).toBe(401);
    expect(
      (await app.request("/admin/decisions", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
    ).toBe(200);
  });

  it("without one (the default): open, as before", async () => {
    const app = build();
    for (const path of ["/metrics", "/ui", "/dashboards"]) expect((await app.request(path)).status).toBe(200);
  });
});
