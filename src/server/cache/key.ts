/**
 * Which requests the response cache may answer, and the key an answer is kept under. Only
 * deterministic requests are cached: temperature 0 (or top_p 0, which the sampler turns into greedy
 * decoding) or a fixed seed. The key holds everything that can change the answer: the tenant, its
 * tier (every field: a tier changed at run time keys afresh), the endpoint, the routing hints, and the
 * whole validated body except the fields listed in `NOT_IN_KEY`. A field added to a body schema later
 * is in the key unless it is listed there, so the mistake a new field can cause is a miss, never a
 * wrong hit.
 */
import { hash } from "node:crypto";
import type { TierConfig } from "../../tenants/index.js";
import { canonicalJson } from "./canonical.js";

/**
 * Body fields that change nothing in the answer's content: how it is delivered (`stream`,
 * `stream_options`: a streamed request is answered from a whole one and the other way round) and the
 * fields accepted and ignored (`schemas/parameters.ts`).
 */
export const NOT_IN_KEY: ReadonlySet<string> = new Set([
  "stream",
  "stream_options",
  "user",
  "safety_identifier",
  "metadata",
  "store",
  "prompt_cache_key",
  "service_tier",
  "modalities",
]);

/** Bumped when what an entry holds changes meaning. */
const KEY_VERSION = 1;

export interface DeterminismFields {
  readonly temperature?: number | null | undefined;
  readonly top_p?: number | null | undefined;
  readonly seed?: number | null | undefined;
}

/** Same request, same answer: greedy decoding, or sampling from a fixed seed. */
export function isDeterministic(body: DeterminismFields): boolean {
  return body.temperature === 0 || body.top_p === 0 || body.seed != null;
}

export interface KeyInput {
  readonly tenantId: string;
  readonly tier: TierConfig;
  readonly endpoint: string;
  /** the validated body */
  readonly body: object;
  /** the routing hint headers as sent (they may change which variant answers) */
  readonly hints: { readonly quality: string | undefined; readonly slaMs: string | undefined };
}

const tierTexts = new WeakMap<TierConfig, string>();

function tierText(tier: TierConfig): string {
  let text = tierTexts.get(tier);
  if (text === undefined) {
    text = canonicalJson(tier);
    tierTexts.set(tier, text);
  }
  return text;
}

/** Hex SHA-256 of the canonical JSON of everything that can change the answer. */
export function responseKey(input: KeyInput): string {
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input.body)) {
    // a top-level null is the field left out (every optional body field is nullish)
    if (!NOT_IN_KEY.has(name) && value !== null && value !== undefined) body[name] = value;
  }
  const text = canonicalJson({
    v: KEY_VERSION,
    tenant: input.tenantId,
    tier: tierText(input.tier),
    endpoint: input.endpoint,
    hints: input.hints,
    body,
  });
  return hash("sha256", text, "hex");
}
