/**
 * Two `tritgate serve` processes behind no load balancer but the test itself, sharing one Postgres
 * (a database of this run on the local server, dropped after) and one Redis (a database number of its
 * own, tenants named for this run): what a deployment of N replicas relies on.
 *
 * - Limits hold across both: a burst split between the replicas admits exactly what one limiter would
 *   (requests per minute, tokens per minute, monthly budget), not twice that. The bursts repeat one greedy
 *   request chosen so that it bills exactly the tokens the gateway reserves for it, so no settle moves a
 *   counter and the admitted count is the limit's alone: floor(limit / tokens each), whatever the timing.
 * - Every answered request is one row in `requests` (its id, once); a request refused by a limit is none.
 * - A canary registered and weighted through one replica is served by the other; rolled back (and, with
 *   a later version, promoted) through the first, the other follows within a registry poll: its answers'
 *   `x-tritgate-variant-version` says so. The time it took is printed.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POSTGRES_ADMIN_URL } from "../../src/db/testkit.js";
import { DEFAULT_KEY_PREFIX, MINUTE_MS, minuteStart, monthKey } from "../../src/tenants/limits/index.js";
import { exited, ROOT, type ServeProcess, startServeProcess, until } from "../helpers/serve-process.js";

const RUN = randomBytes(4).toString("hex");
const DATABASE = `tg_replicas_${RUN}`;
/** a Redis database number of this suite's (the shared server's default 0 stays untouched) */
const REDIS_URL = `${process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379"}/13`;
const ADMIN_TOKEN = `tgadmin-replicas-${RUN}-0123456789`;
const MODEL_FILE = join(ROOT, "models/nano/nano-b158/model.gguf");
const VARIANT = "nano-b158";

const RPM = 12;
const TPM = 400;
const BUDGET = 400;

interface Answer {
  readonly status: number;
  readonly requestId: string;
  readonly replica: number;
  readonly version: string | null;
  readonly totalTokens: number | null;
  readonly code: string | null;
}

/** Every answer the test received, for the rows == responses check at the end. */
const answers: Answer[] = [];
const replicas: ServeProcess[] = [];

function adminUrl(replica: number, path: string): string {
  return `${replicas[replica]!.url}/admin${path}`;
}

async function admin(replica: number, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(adminUrl(replica, path), {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path} on replica ${replica}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function chat(replica: number, key: string, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${replicas[replica]!.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { usage?: { total_tokens: number }; error?: { code: string | null } };
  const answer: Answer = {
    status: res.status,
    requestId: res.headers.get("x-request-id") ?? "",
    replica,
    version: res.headers.get("x-tritgate-variant-version"),
    totalTokens: json.usage?.total_tokens ?? null,
    code: json.error?.code ?? null,
  };
  answers.push(answer);
  return answer;
}

/**
 * What the gateway reserves for a chat request before it runs (`promptTokenEstimate` plus max_tokens),
 * restated: the test picks a request whose bill equals it, so that settling changes no counter and the
 * admitted count depends on the limit alone.
 */
function reservation(body: { messages: { content: string }[]; max_tokens: number }): number {
  return body.messages.reduce((sum, m) => sum + Math.ceil(m.content.length / 4) + 4, 0) + body.max_tokens;
}

const MAX_TOKENS = 4;
const bodyOf = (content: string) => ({
  model: "nano",
  messages: [{ role: "user", content }],
  max_tokens: MAX_TOKENS,
  temperature: 0,
});

/**
 * A request (greedy, so its bill is the same every time and on both replicas) that bills exactly what
 * it reserves: prompts of growing length are tried on the unlimited tenant until one's prompt tokens
 * plus its `MAX_TOKENS` completion equal the reservation.
 */
async function exactRequest(key: string): Promise<{ body: ReturnType<typeof bodyOf>; tokens: number }> {
  for (let words = 1; words <= 40; words++) {
    for (const tail of ["", "a", "ab", "abc"]) {
      const body = bodyOf(`${"Count the apples ".repeat(words)}${tail}`);
      const res = await fetch(`${replicas[0]!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as { usage: { total_tokens: number; completion_tokens: number } };
      answers.push({
        status: res.status,
        requestId: res.headers.get("x-request-id") ?? "",
        replica: 0,
        version: null,
        totalTokens: json.usage.total_tokens,
        code: null,
      });
      if (json.usage.completion_tokens === MAX_TOKENS && json.usage.total_tokens === reservation(body)) {
        return { body, tokens: json.usage.total_tokens };
      }
    }
  }
  throw new Error("no prompt billed exactly its reservation");
}

let tenants = 0;
/** A tenant of `tier` made through replica 0 and its key, once replica 1 knows the key too. */
async function newTenant(tier: string): Promise<{ readonly id: string; readonly key: string }> {
  const id = `${tier}-${RUN}-${tenants++}`;
  await admin(0, "POST", "/tenants", { id, name: id, tier });
  const { key } = (await admin(0, "POST", `/tenants/${id}/keys`)) as { key: string };
  await until(
    async () =>
      (await fetch(`${replicas[1]!.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).ok
        ? true
        : undefined,
    "replica 1 to know the new key",
    30_000,
  );
  return { id, key };
}

let redis: Redis;
const minuteCounts = async (tenant: string, at: number) => {
  const hash = await redis.hgetall(`${DEFAULT_KEY_PREFIX}:{${tenant}}:min:${minuteStart(at)}`);
  return { requests: Number(hash.r ?? 0), tokens: Number(hash.t ?? 0) };
};
const monthTokens = async (tenant: string, at: number) =>
  Number((await redis.get(`${DEFAULT_KEY_PREFIX}:{${tenant}}:mon:${monthKey(at)}`)) ?? 0);

/** `count` copies of `body` at once, alternating between the replicas. */
function burst(key: string, body: Record<string, unknown>, count: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => chat(i % 2, key, body)));
}

interface LimitResult {
  /** what one limiter admits: the limit over what each request counts */
  readonly expected: number;
  readonly admitted: Answer[];
  readonly refused: Answer[];
  /** the shared counter (requests, or tokens) once every admitted request has settled */
  readonly counted: number;
}

async function limitBurst(
  tier: string,
  body: Record<string, unknown>,
  expected: number,
  counted: (tenant: string) => Promise<number>,
): Promise<LimitResult> {
  const tenant = await newTenant(tier);
  const answers = await burst(tenant.key, body, 2 * expected + 4);
  return {
    expected,
    admitted: answers.filter((a) => a.status === 200),
    refused: answers.filter((a) => a.status !== 200),
    counted: await counted(tenant.id),
  };
}

function config(): string {
  const tier = (name: string, limits: string) =>
    `  - { name: ${name}, qualityFloor: 0.1, ttftSlaMs: 120000, totalSlaMs: 600000, onOverload: queue, maxQueueWaitMs: 600000, maxOutputTokens: 16, ${limits} }`;
  return [
    "server: { host: 127.0.0.1, port: 0 }",
    "tiers:",
    tier("rpm", `requestsPerMinute: ${RPM}, tokensPerMinute: 1000000`),
    tier("tpm", `requestsPerMinute: 100000, tokensPerMinute: ${TPM}`),
    tier("budget", `requestsPerMinute: 100000, tokensPerMinute: 1000000, monthlyTokenBudget: ${BUDGET}`),
    tier("open", "requestsPerMinute: 100000, tokensPerMinute: 10000000"),
    "variants:",
    `  - { name: ${VARIANT}, family: nano, engine: bitnet, path: ${MODEL_FILE}, slots: 4,`,
    "      card: { prefillTokensPerSecond: 6500, decodeTokensPerSecond: 2100 }, pricePerCoreHour: 0.04, wattsPerCore: 10 }",
    "families: [{ name: nano, reference: nano-b158 }]",
    "threads: 1",
    // no verdict of the replicas' own during the test: only the operator's rollback and promotion
    "canary: { minRequests: 100000, windowRequests: 100000, promoteAfterRequests: null }",
    `tenants: [{ id: canary-${RUN}, name: Canary, tier: open }]`,
    `demoTenant: canary-${RUN}`,
  ].join("\n");
}

describe("two replicas on one Postgres and one Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "tg-replicas-"));
  const databaseUrl = POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${DATABASE}`);
  let canaryKey = "";

  beforeAll(async () => {
    const pg = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => undefined });
    await pg.unsafe(`create database ${DATABASE}`);
    await pg.end();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    const configPath = join(dir, "tritgate.yaml");
    writeFileSync(configPath, config());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      TRITGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    for (const name of ["HOST", "PORT", "TRITGATE_CONFIG", "TRITGATE_STATE_DIR"]) delete env[name];
    // started together: migrations, seeding and the registry take turns under their advisory locks
    const started = await Promise.all(
      [0, 1].map((i) =>
        startServeProcess(["--config", configPath, "--port", "0", "--state-dir", join(dir, `state-${i}`)], env),
      ),
    );
    replicas.push(...started);
    for (const replica of replicas) {
      await until(
        async () => ((await fetch(`${replica.url}/health/ready`)).ok ? true : undefined),
        "a ready variant",
        180_000,
      );
    }
    canaryKey = ((await admin(0, "POST", `/tenants/canary-${RUN}/keys`)) as { key: string }).key;
    await until(
      async () =>
        (await fetch(`${replicas[1]!.url}/v1/models`, { headers: { authorization: `Bearer ${canaryKey}` } })).ok
          ? true
          : undefined,
      "replica 1 to know the canary tenant's key",
      30_000,
    );
  }, 400_000);

  afterAll(async () => {
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill("SIGKILL");
    if (redis) {
      const keys = await redis.keys(`${DEFAULT_KEY_PREFIX}:{*${RUN}*}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
    const pg = postgres(POSTGRES_ADMIN_URL, { max: 1, onnotice: () => undefined });
    await pg.unsafe(`drop database if exists ${DATABASE} with (force)`);
    await pg.end();
  }, 60_000);

  it("holds requests/min, tokens/min and the monthly budget exactly across both replicas", async () => {
    const { body, tokens } = await exactRequest(canaryKey);
    // the minute windows are fixed UTC minutes: run the bursts within one of them (a start too close
    // to a minute's end waits for the next; a run that still crosses one is tried again, with new tenants)
    let results: [LimitResult, LimitResult, LimitResult] | undefined;
    for (let attempt = 0; attempt < 3 && !results; attempt++) {
      const left = MINUTE_MS - (Date.now() % MINUTE_MS);
      if (left < 40_000) await new Promise((r) => setTimeout(r, left + 250));
      const start = Date.now();
      const outcome = await Promise.all([
        limitBurst("rpm", body, RPM, async (id) => (await minuteCounts(id, start)).requests),
        limitBurst("tpm", body, Math.floor(TPM / tokens), async (id) => (await minuteCounts(id, start)).tokens),
        limitBurst("budget", body, Math.floor(BUDGET / tokens), (id) => monthTokens(id, start)),
      ]);
      if (minuteStart(Date.now()) === minuteStart(start)) results = outcome;
    }
    if (!results) throw new Error("every attempt crossed a minute boundary");
    const [rpm, tpm, budget] = results;
    console.log(
      `limits across two replicas (${tokens} tokens a request, reserved = billed): ` +
        `requests/min ${rpm.admitted.length} admitted of ${rpm.admitted.length + rpm.refused.length} (limit ${RPM}), ` +
        `tokens/min ${tpm.admitted.length} of ${tpm.admitted.length + tpm.refused.length} (limit ${TPM}), ` +
        `budget ${budget.admitted.length} of ${budget.admitted.length + budget.refused.length} (limit ${BUDGET})`,
    );

    for (const r of [rpm, tpm, budget]) {
      expect(r.expected).toBeGreaterThan(1);
      // exactly what one limiter admits, not what two counting apart would (twice that)
      expect(r.admitted).toHaveLength(r.expected);
      // the burst really was split: each replica was asked more than the limit, so two limiters counting
      // apart would each admit up to the limit (2x in all), and one shared limiter admits it once. Which
      // replica's requests reach the shared counter first is a race, so who got the admitted ones is not
      for (const replica of [0, 1]) {
        const asked = [...r.admitted, ...r.refused].filter((a) => a.replica === replica).length;
        expect(asked).toBeGreaterThan(r.expected);
      }
      // every admitted answer billed what it reserved, so no settle moved a counter
      for (const a of r.admitted) expect(a.totalTokens).toBe(tokens);
    }
    expect(rpm.counted).toBe(RPM);
    expect(tpm.counted).toBe(tpm.expected * tokens);
    expect(budget.counted).toBe(budget.expected * tokens);
    for (const a of [...rpm.refused, ...tpm.refused]) {
      expect(a.status).toBe(429);
      expect(a.code).toBe("rate_limit_exceeded");
    }
    for (const a of budget.refused) {
      // with less than one request's tokens left the budget answers 400 (waiting will not help), at 0 a 429
      expect([400, 429]).toContain(a.status);
      expect(["request_exceeds_remaining_budget", "insufficient_quota"]).toContain(a.code);
    }
  }, 300_000);

  it("a canary rolled back or promoted through one replica is followed by the other within a registry poll", async () => {
    const body = { model: "nano", messages: [{ role: "user", content: "Say hi." }], max_tokens: 4 };
    const versionOn = async (replica: number) => {
      const a = await chat(replica, canaryKey, body);
      expect(a.status).toBe(200);
      return a.version;
    };
    const servedEverywhere = (version: string) =>
      until(
        async () => ((await versionOn(1)) === version && (await versionOn(0)) === version ? true : undefined),
        `both replicas serving version ${version}`,
        120_000,
      );
    expect(await versionOn(0)).toBe("1");
    expect(await versionOn(1)).toBe("1");

    // registered and weighted through replica 0: replica 1 loads the canary and sends it all its traffic too
    const registered = await admin(0, "POST", `/variants/${VARIANT}/versions`, { path: MODEL_FILE });
    expect(registered).toMatchObject({ version: "2", status: "canary" });
    await admin(0, "POST", `/variants/${VARIANT}/canary`, { weight: 1 });
    await servedEverywhere("2");

    // rolled back through replica 0: replica 1 stops serving version 2
    const rolledBackAt = Date.now();
    await admin(0, "POST", `/variants/${VARIANT}/rollback`, { reason: "replicas test" });
    expect(await versionOn(0)).toBe("1");
    await until(async () => ((await versionOn(1)) === "1" ? true : undefined), "replica 1 to stop the canary", 60_000);
    const rollbackSeenMs = Date.now() - rolledBackAt;
    for (let i = 0; i < 6; i++) expect(await versionOn(1)).toBe("1");
    expect(replicas[1]!.output()).toContain(`canary ${VARIANT}@2 rolled back in the registry`);

    // a next version promoted through replica 0: replica 1 serves it as its stable version
    await admin(0, "POST", `/variants/${VARIANT}/versions`, { path: MODEL_FILE });
    await admin(0, "POST", `/variants/${VARIANT}/canary`, { weight: 1 });
    await servedEverywhere("3");
    await admin(0, "POST", `/variants/${VARIANT}/promote`, { reason: "replicas test" });
    await admin(0, "POST", `/variants/${VARIANT}/canary`, { weight: 0 }).then(
      () => undefined,
      () => undefined, // no canary any more: refused, as it should be
    );
    await servedEverywhere("3");
    await until(
      async () => (replicas[1]!.output().includes(`canary ${VARIANT}@3 promoted in the registry`) ? true : undefined),
      "replica 1 to take the promotion",
      60_000,
    );
    for (let i = 0; i < 6; i++) expect(await versionOn(1)).toBe("3");
    console.log(`replica 1 stopped serving the rolled-back canary ${rollbackSeenMs} ms after the rollback`);
  }, 400_000);

  it("records every answered request exactly once, and no request a limit refused", async () => {
    for (const replica of replicas) replica.child.kill("SIGTERM");
    for (const replica of replicas) expect(await exited(replica.child)).toBe(0);
    const pg = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
    const rows = await pg<{ request_id: string }[]>`select request_id from requests`;
    await pg.end();
    const answered = answers.filter((a) => a.status === 200).map((a) => a.requestId);
    const refused = answers.filter((a) => a.status !== 200).map((a) => a.requestId);
    const ids = rows.map((r) => r.request_id);
    expect(new Set(answered).size).toBe(answered.length);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(answered.length);
    expect(new Set(ids)).toEqual(new Set(answered));
    expect(refused.length).toBeGreaterThan(0);
    for (const id of refused) expect(ids).not.toContain(id);
  }, 120_000);
});
