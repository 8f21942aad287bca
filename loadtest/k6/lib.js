// What both k6 scripts share: the scenarios (loadtest/k6/scenarios.json, generated from
// loadtest/scenarios.ts), the k6 options built from them, the request mix and the metrics.
import exec from "k6/execution";
import { Rate, Trend } from "k6/metrics";

/**
 * @typedef {{ name: string, endpoint: "chat" | "completions", text: string, weight: number }} Prompt
 * @typedef {{ ttftP95Ms: number, durationP95Ms: number, maxErrorRate: number, maxDegradedShare: number, maxDropped: number }} Thresholds
 * @typedef {{ tier: string, rate: number, timeUnit: string, maxTokens: number, streamingShare: number,
 *   preAllocatedVUs: number, maxVUs: number, thresholds: Thresholds }} TierLoad
 * @typedef {{ description: string, duration: string, prompts: Prompt[], tiers: TierLoad[] }} Profile
 * @typedef {{ profiles: Record<string, Profile> }} ScenarioFile
 */

/** @type {ScenarioFile} */
const scenarios = JSON.parse(open("./scenarios.json"));

export const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const profileName = __ENV.PROFILE || "smoke";
const chosen = scenarios.profiles[profileName];
if (!chosen) throw new Error(`PROFILE=${profileName}: expected one of ${Object.keys(scenarios.profiles).join(", ")}`);
/** @type {Profile} */
export const profile = chosen;

/** TTFT: the scheduled iteration's start to the first content delta (sla.js only). */
export const ttft = new Trend("ttft", true);
/** every request that did not end in a complete answer (non-200, an error event, no [DONE]) */
export const requestErrors = new Rate("request_errors");
/** answers marked `x-tritgate-degraded: true` */
export const degraded = new Rate("degraded");

/**
 * The k6 options: one constant-arrival-rate scenario per tier, thresholds from the tier's SLA.
 * @param {{ ttft: boolean, httpReqFailed: boolean }} measures
 * @returns {import("k6/options").Options}
 */
export function optionsFor(measures) {
  /** @type {NonNullable<import("k6/options").Options["scenarios"]>} */
  const executors = {};
  /** @type {NonNullable<import("k6/options").Options["thresholds"]>} */
  const thresholds = {};
  for (const t of profile.tiers) {
    executors[t.tier] = {
      executor: "constant-arrival-rate",
      rate: t.rate,
      timeUnit: t.timeUnit,
      duration: profile.duration,
      preAllocatedVUs: t.preAllocatedVUs,
      maxVUs: t.maxVUs,
      tags: { tier: t.tier },
    };
    const s = `{scenario:${t.tier}}`;
    thresholds[`http_req_duration${s}`] = [`p(95)<=${t.thresholds.durationP95Ms}`];
    thresholds[`request_errors${s}`] = [`rate<=${t.thresholds.maxErrorRate}`];
    thresholds[`degraded${s}`] = [`rate<=${t.thresholds.maxDegradedShare}`];
    thresholds[`dropped_iterations${s}`] = [`count<=${t.thresholds.maxDropped}`];
    if (measures.ttft && t.streamingShare > 0) thresholds[`ttft${s}`] = [`p(95)<=${t.thresholds.ttftP95Ms}`];
    if (measures.httpReqFailed) thresholds[`http_req_failed${s}`] = [`rate<=${t.thresholds.maxErrorRate}`];
  }
  return { scenarios: executors, thresholds, discardResponseBodies: false };
}

/** @returns {TierLoad} the tier of the scenario this iteration runs in */
export function currentTier() {
  const name = exec.scenario.name;
  const tier = profile.tiers.find((t) => t.tier === name);
  if (!tier) throw new Error(`no tier for scenario ${name}`);
  return tier;
}

/** @returns {Prompt} a prompt drawn by weight */
function pickPrompt() {
  const total = profile.prompts.reduce((sum, p) => sum + p.weight, 0);
  let at = Math.random() * total;
  for (const p of profile.prompts) {
    if (at < p.weight) return p;
    at -= p.weight;
  }
  return profile.prompts[profile.prompts.length - 1];
}

/**
 * The next request of this tier's mix.
 * @param {TierLoad} tier
 * @returns {{ url: string, body: string, stream: boolean, headers: Record<string, string> }}
 */
export function nextRequest(tier) {
  const prompt = pickPrompt();
  const stream = Math.random() < tier.streamingShare;
  const common = { model: "auto", max_tokens: tier.maxTokens, stream };
  const body =
    prompt.endpoint === "chat"
      ? { ...common, messages: [{ role: "user", content: prompt.text }] }
      : { ...common, prompt: prompt.text };
  const key = __ENV[`KEY_${tier.tier.toUpperCase()}`] || __ENV.KEY;
  if (!key) throw new Error(`set KEY (every tier) or KEY_${tier.tier.toUpperCase()} to an API key of that tier`);
  return {
    url: `${BASE_URL}${prompt.endpoint === "chat" ? "/v1/chat/completions" : "/v1/completions"}`,
    body: JSON.stringify(body),
    stream,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  };
}

/**
 * What an SSE event's data is, as the Node runner's sse.ts reads it: text (chat `delta.content` or
 * completions `text`, non-empty), a chunk without text (the role chunk, finish, usage), `[DONE]`, or an error.
 * @param {string} data
 * @returns {"content" | "empty" | "done" | "error"}
 */
export function classifyChunk(data) {
  if (data === "[DONE]") return "done";
  /** @type {{ error?: unknown, choices?: Array<{ delta?: { content?: unknown }, text?: unknown }> }} */
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    return "error";
  }
  if (chunk === null || typeof chunk !== "object" || chunk.error !== undefined) return "error";
  const hasText = (chunk.choices || []).some((c) => {
    const text = c.delta && c.delta.content !== undefined ? c.delta.content : c.text;
    return typeof text === "string" && text.length > 0;
  });
  return hasText ? "content" : "empty";
}

/**
 * A header's value whatever its case (k6 and xk6-sse report canonical names).
 * @param {Record<string, string> | undefined} headers
 * @param {string} name
 */
export function header(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const k of Object.keys(headers)) if (k.toLowerCase() === wanted) return headers[k];
  return undefined;
}
