/**
 * The semantic mode, in-process over scripted engines with the real embedder of the committed
 * nano-b158 (its token-embedding table): a paraphrase of a stored question is answered from it;
 * the negated question (GPTCache #694) is not, although its embedding is closer than the
 * paraphrase's; what the guard cannot see (an antonym) is left to the threshold.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadTokenEmbedder, type TextEmbedder } from "../../engines/bitnet/index.js";
import { createGateway } from "../app.js";
import { answers, type Script, scripted, settle } from "../outcome/testkit.js";
import { CountingLimiter, MapDirectory, memoryLog, TINY_CONFIGS, tierConfig } from "../testkit.js";
import { negationGuard } from "./semantic.js";

const MODEL = join(import.meta.dirname, "../../../models/nano/nano-b158/model.gguf");
/** between the paraphrases' similarity (0.986 and up) and the antonym's (0.969) with the nano embeddings */
const THRESHOLD = 0.985;

let embedder: TextEmbedder;
beforeAll(async () => {
  embedder = await loadTokenEmbedder(MODEL);
});

const cosine = (a: string, b: string) => {
  const x = embedder.embed(a);
  const y = embedder.embed(b);
  return x.reduce((s, v, i) => s + v * y[i]!, 0);
};

function semanticGateway() {
  const directory = new MapDirectory([
    tierConfig({
      name: "semantic",
      responseCache: { mode: "semantic", ttlSeconds: 60, billHits: true, similarity: THRESHOLD },
    }),
    tierConfig({ name: "exact", responseCache: { mode: "exact", ttlSeconds: 60, billHits: true, similarity: 1 } }),
  ]);
  const keys = {
    acme: directory.addTenant("acme", "semantic"),
    globex: directory.addTenant("globex", "semantic"),
    initech: directory.addTenant("initech", "exact"),
  };
  const state = { generations: 0, script: answers("an answer") as Script };
  const { app, cache } = createGateway({
    directory,
    limiter: new CountingLimiter(),
    variants: TINY_CONFIGS.map((config) => ({
      config,
      worker: scripted(config.name, () => {
        state.generations++;
        return state.script;
      }),
    })),
    log: memoryLog(),
    rateAlpha: 1e-9,
    responseCache: { maxBytes: 1 << 20, embedder },
  });
  const ask = async (content: string, key = keys.acme, extra: Record<string, unknown> = {}) => {
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny-b158",
        messages: [
          { role: "system", content: "You answer questions about the gateway." },
          { role: "user", content },
        ],
        max_tokens: 8,
        temperature: 0,
        ...extra,
      }),
    });
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    await settle();
    return {
      cache: res.headers.get("x-tritgate-cache"),
      match: res.headers.get("x-tritgate-cache-match"),
      similarity: res.headers.get("x-tritgate-cache-similarity"),
      content: body.choices[0]!.message.content,
    };
  };
  /** the next generation answers `text` */
  const answering = (text: string) => {
    state.script = answers(text);
  };
  return { ask, answering, keys, state, cache };
}

describe("the semantic mode", () => {
  it("answers a paraphrase of a stored question from it, saying so and how similar", async () => {
    const g = semanticGateway();
    g.answering("set cache: on");
    expect(await g.ask("how do I enable X")).toMatchObject({ cache: "miss", content: "set cache: on" });
    for (const paraphrase of ["How do I enable X", "how can I enable X", "how do I enable X?"]) {
      expect(cosine("how do I enable X", paraphrase)).toBeGreaterThanOrEqual(THRESHOLD);
      const hit = await g.ask(paraphrase);
      expect(hit, paraphrase).toMatchObject({ cache: "hit", match: "semantic", content: "set cache: on" });
      expect(Number(hit.similarity)).toBeGreaterThanOrEqual(THRESHOLD);
    }
    const exact = await g.ask("how do I enable X");
    expect(exact).toMatchObject({ cache: "hit", match: "exact" });
    expect(g.state.generations).toBe(1);
  });

  it("GPTCache #694: the negated question is closer than a paraphrase, and still never matched", async () => {
    const g = semanticGateway();
    const question = "how do I enable X";
    const negated = "how do I not enable X";
    // by similarity alone the negation would be served the original's answer
    expect(cosine(question, negated)).toBeGreaterThan(cosine(question, "how can I enable X"));
    expect(cosine(question, negated)).toBeGreaterThanOrEqual(THRESHOLD);
    g.answering("set cache: on");
    await g.ask(question);
    g.answering("leave cache unset");
    expect(await g.ask(negated)).toMatchObject({ cache: "miss", content: "leave cache unset" });
    // each is then answered with its own answer, and a contraction is a negation too
    expect(await g.ask(question)).toMatchObject({ cache: "hit", content: "set cache: on" });
    expect(await g.ask(negated)).toMatchObject({ cache: "hit", match: "exact", content: "leave cache unset" });
    g.answering("do not set it");
    expect(await g.ask("how don't I enable X")).toMatchObject({ cache: "miss", content: "do not set it" });
    expect(g.state.generations).toBe(3);
  });

  it("an antonym the guard cannot see is left to the threshold; numbers must agree", async () => {
    const g = semanticGateway();
    await g.ask("how do I enable X");
    const antonym = "how do I disable X";
    expect(cosine("how do I enable X", antonym)).toBeLessThan(THRESHOLD);
    expect((await g.ask(antonym)).cache).toBe("miss");
    await g.ask("give me 3 examples of X");
    // 0.996 apart: only the guard tells them apart
    expect(cosine("give me 3 examples of X", "give me 4 examples of X")).toBeGreaterThanOrEqual(THRESHOLD);
    expect((await g.ask("give me 4 examples of X")).cache).toBe("miss");
    expect((await g.ask("give me 3 examples of X?")).match).toBe("semantic");
  });

  it("only the last user message is compared: other parameters, earlier messages and tenants must be equal", async () => {
    const g = semanticGateway();
    await g.ask("how do I enable X");
    expect((await g.ask("How do I enable X", g.keys.acme, { max_tokens: 9 })).cache).toBe("miss");
    expect((await g.ask("How do I enable X", g.keys.globex)).cache).toBe("miss");
    // a tier in exact mode does not match paraphrases
    await g.ask("how do I enable X", g.keys.initech);
    expect((await g.ask("How do I enable X", g.keys.initech)).cache).toBe("miss");
    expect((await g.ask("How do I enable X", g.keys.acme)).match).toBe("semantic");
  });
});

describe("negationGuard", () => {
  it("keeps negations (contractions too) and numbers, in order; nothing else", () => {
    expect(negationGuard("How do I enable X?")).toBe("");
    expect(negationGuard("Why doesn't it never work without 2 keys")).toBe("doesnt never without 2");
    expect(negationGuard("I can’t")).toBe("cant");
    expect(negationGuard("nothing, not even 10")).toBe("nothing not 10");
  });
});
