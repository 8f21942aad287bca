/**
 * End to end, on PGlite and the local Postgres: requests answered by the committed nano models through
 * a real gateway (real HTTP, the official client) are each in `requests` exactly once with their
 * decision, and `/v1/usage` and the admin decisions route report exactly them.
 */
import { join } from "node:path";
import { sql } from "drizzle-orm";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { createReports, DatabaseRecorder } from "../db/index.js";
import { type TestDatabase, testDatabase } from "../db/testkit.js";
import { ADMIN_TOKEN, type NanoGateway, startNanoGateway } from "./testkit.js";

interface Answered {
  readonly requestId: string;
  readonly tenant: string;
  readonly variant: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

describe.each(["pglite", "postgres"] as const)("recorded and reported end to end on %s", (driver) => {
  let t: TestDatabase | undefined;
  let nano: NanoGateway | undefined;
  let recorder: DatabaseRecorder | undefined;

  afterEach(async () => {
    await nano?.close();
    await recorder?.close();
    await t?.dispose();
    nano = undefined;
    recorder = undefined;
    t = undefined;
  });

  it("every answered request is one row with its decision, and the usage report sums exactly those", async () => {
    t = await testDatabase(driver);
    const errors: string[] = [];
    recorder = await DatabaseRecorder.start({
      database: t.database,
      journalDir: join(t.dir, "journal"),
      onError: (e, context) => errors.push(`${context}: ${e.message}`),
    });
    nano = await startNanoGateway({ recorder, reports: createReports(t.database), adminToken: ADMIN_TOKEN });
    const gw = nano;
    const client = (tier: string) =>
      new OpenAI({ apiKey: gw.keys[tier] as string, baseURL: gw.baseURL, maxRetries: 0 });
    const answered: Answered[] = [];

    const chat = async (tier: string, content: string) => {
      const { data, response } = await client(tier)
        .chat.completions.create({ model: "auto", messages: [{ role: "user", content }], max_tokens: 8, seed: 1 })
        .withResponse();
      answered.push({
        requestId: response.headers.get("x-request-id") as string,
        tenant: `tenant-${tier}`,
        variant: response.headers.get("x-tritgate-variant") as string,
        promptTokens: data.usage?.prompt_tokens ?? -1,
        completionTokens: data.usage?.completion_tokens ?? -1,
      });
    };
    const streamed = async (tier: string, content: string) => {
      const { data: stream, response } = await client(tier)
        .chat.completions.create({
          model: "auto",
          messages: [{ role: "user", content }],
          max_tokens: 8,
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
      for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
      answered.push({
        requestId: response.headers.get("x-request-id") as string,
        tenant: `tenant-${tier}`,
        variant: response.headers.get("x-tritgate-variant") as string,
        promptTokens: usage?.prompt_tokens ?? -1,
        completionTokens: usage?.completion_tokens ?? -1,
      });
    };
    const legacy = async (tier: string, prompt: string) => {
      const { data, response } = await client(tier)
        .completions.create({ model: "auto", prompt, max_tokens: 6 })
        .withResponse();
      answered.push({
        requestId: response.headers.get("x-request-id") as string,
        tenant: `tenant-${tier}`,
        variant: response.headers.get("x-tritgate-variant") as string,
        promptTokens: data.usage?.prompt_tokens ?? -1,
        completionTokens: data.usage?.completion_tokens ?? -1,
      });
    };

    await chat("standard", "Tell me about the ship.");
    await streamed("standard", "Where did the sailors go?");
    await legacy("standard", "Once upon a time");
    await chat("standard", "And then?");
    await chat("premium", "Tell me about the harbour.");
    await streamed("premium", "What did the captain say?");
    expect(answered.every((a) => a.promptTokens > 0 && a.completionTokens > 0 && a.variant)).toBe(true);
    await recorder.flush();
    expect(errors).toEqual([]);

    // exactly once each, with its decision
    const rows = await t.database.rows<{ request_id: string; tenant_id: string; n: number; decisions: number }>(sql`
      select r.request_id, r.tenant_id, count(*)::int as n,
        (select count(*)::int from routing_decisions d where d.request_id = r.request_id) as decisions
      from requests r group by r.request_id, r.tenant_id order by r.request_id`);
    expect(rows).toEqual(
      answered
        .map((a) => ({ request_id: a.requestId, tenant_id: a.tenant, n: 1, decisions: 1 }))
        .sort((a, b) => a.request_id.localeCompare(b.request_id)),
    );

    for (const tier of ["standard", "premium"]) {
      const mine = answered.filter((a) => a.tenant === `tenant-${tier}`);
      const res = await fetch(`${gw.server.url}/v1/usage`, { headers: { authorization: `Bearer ${gw.keys[tier]}` } });
      expect(res.status).toBe(200);
      const report = (await res.json()) as {
        tenant: string;
        totals: { requests: number; errors: number; tokensIn: number; tokensOut: number; cost: number };
        data: { variant: string; requests: number }[];
      };
      expect(report.tenant).toBe(`tenant-${tier}`);
      expect(report.totals).toMatchObject({
        requests: mine.length,
        errors: 0,
        tokensIn: mine.reduce((s, a) => s + a.promptTokens, 0),
        tokensOut: mine.reduce((s, a) => s + a.completionTokens, 0),
      });
      const perVariant = new Map<string, number>();
      for (const a of mine) perVariant.set(a.variant, (perVariant.get(a.variant) ?? 0) + 1);
      expect(new Map(report.data.map((d) => [d.variant, d.requests]))).toEqual(perVariant);
      const [logged] = await t.database.rows<{ cost: number }>(
        sql`select coalesce(sum(cost), 0)::float8 as cost from requests where tenant_id = ${`tenant-${tier}`}`,
      );
      expect(report.totals.cost).toBeCloseTo(logged?.cost as number, 12);
      expect(report.totals.cost).toBeGreaterThan(0);
    }

    // the admin's view of one tenant's decisions: exactly its requests, newest first
    const res = await fetch(`${gw.server.url}/admin/tenants/tenant-standard/decisions`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const decisions = (await res.json()) as {
      data: { request: { requestId: string }; decision: { chosen: string; candidates: { variant: string }[] } }[];
    };
    const standard = answered.filter((a) => a.tenant === "tenant-standard").map((a) => a.requestId);
    expect(decisions.data.map((d) => d.request.requestId)).toEqual([...standard].reverse());
    for (const d of decisions.data) {
      expect(d.decision.candidates.map((c) => c.variant).sort()).toEqual(["nano-b158", "nano-fp32"]);
    }
  });
});
