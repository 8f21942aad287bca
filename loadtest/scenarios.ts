/**
 * The load scenarios: the one source the Node SLA runner (`npm run loadtest`) and the k6 scripts
 * (`loadtest/k6/`, through the JSON `npm run loadtest:k6-config` writes) both read. Per profile and tier:
 * the arrival rate, output length, streaming share, virtual-user bounds and the error and degraded
 * budgets. The latency thresholds are not here: they are each tier's own SLA (`ttftSlaMs`, `totalSlaMs`),
 * read from the gateway config by `resolveProfile`, so a tier's promise is written once.
 */
import { z } from "zod";

const positive = () => z.number().positive();
const positiveInt = () => z.number().int().positive();
const fraction = () => z.number().min(0).max(1);

export const ENDPOINTS = ["chat", "completions"] as const;

const promptSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  endpoint: z.enum(ENDPOINTS),
  /** chat: the user message; completions: the prompt text */
  text: z.string().min(1),
  /** relative frequency in the mix */
  weight: positive(),
});

const tierLoadSchema = z.strictObject({
  /** a tier of the gateway config */
  tier: z.string().min(1),
  /** arrivals per second, on a fixed schedule whatever the responses do (open loop) */
  ratePerSecond: positive(),
  /** `max_tokens` of every request */
  maxTokens: positiveInt(),
  /** share of requests sent with `stream: true` (TTFT is measured on these) */
  streamingShare: fraction(),
  /** k6's constant-arrival-rate bounds; the Node runner drops an arrival when `maxVUs` are in flight */
  preAllocatedVUs: positiveInt(),
  maxVUs: positiveInt(),
  /** share of sent requests allowed to fail (non-200, an error event in the stream, a timeout) */
  maxErrorRate: fraction(),
  /** share of answers allowed to come from a variant below the tier's quality floor (`x-tritgate-degraded`) */
  maxDegradedShare: fraction(),
});

const profileSchema = z.strictObject({
  description: z.string().min(1),
  /** how long arrivals are scheduled, per tier (tiers run at the same time) */
  durationSeconds: positive(),
  /** requests per tier sent one by one before the measured run (not counted): the first request of a
   * worker pays for lazy initialisation that no later one does */
  warmupRequestsPerTier: z.number().int().min(0),
  /** seeds the Node runner's prompt and streaming choices, so two runs send the same requests */
  seed: z.number().int(),
  tiers: z.array(tierLoadSchema).min(1),
});

export const PROFILE_NAMES = ["smoke", "full"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export const scenarioFileSchema = z
  .strictObject({
    prompts: z.array(promptSchema).min(1),
    profiles: z.strictObject({ smoke: profileSchema, full: profileSchema }),
  })
  .superRefine((file, ctx) => {
    for (const name of PROFILE_NAMES)
      file.profiles[name].tiers.forEach((t, i) => {
        if (t.maxVUs < t.preAllocatedVUs)
          ctx.addIssue({
            code: "custom",
            path: ["profiles", name, "tiers", i, "maxVUs"],
            message: "expected maxVUs ≥ preAllocatedVUs",
          });
      });
  });

export type ScenarioFile = z.output<typeof scenarioFileSchema>;
export type Prompt = ScenarioFile["prompts"][number];
export type Profile = ScenarioFile["profiles"][ProfileName];
export type TierLoad = Profile["tiers"][number];

// The nano models have a 256-token context: the long prompts (~110 tokens with the chat template) plus
// max_tokens stay inside it, so no request is a 400 for its length.
const LONG_CHAT =
  "I have been reading about the whaling voyages of the last century, the long months at sea, the " +
  "crews gathered from every port, the captains who would not turn back, and the great white whale " +
  "that one of them pursued around the world. Tell me, in your own words, what such a voyage was like " +
  "for a common sailor, from the day he signed on to the day the ship came home.";
const LONG_COMPLETION =
  "The state of the Union is strong, and the Congress has before it the business of the nation: the " +
  "public debt, the revenue, the army and the navy, the treaties with foreign powers, the territories " +
  "of the West, the welfare of the people and the duties of the government toward them. In this " +
  "message I shall speak of each in turn, beginning with";

/** The scenarios. A change here is a change to both the Node runner and the k6 scripts (re-run
 * `npm run loadtest:k6-config`; a test fails while the committed JSON differs). */
export const SCENARIOS: ScenarioFile = scenarioFileSchema.parse({
  prompts: [
    { name: "chat-short", endpoint: "chat", text: "Tell me about the ship.", weight: 4 },
    { name: "chat-long", endpoint: "chat", text: LONG_CHAT, weight: 2 },
    { name: "completion-short", endpoint: "completions", text: "Call me Ishmael. Some years ago", weight: 2 },
    { name: "completion-long", endpoint: "completions", text: LONG_COMPLETION, weight: 1 },
  ],
  profiles: {
    // CI, on 2 shared cores with other work: 1.2 requests/s in all, well under what the nano models
    // serve there, so a breach is the gateway's fault, not the machine's.
    smoke: {
      description: "CI: 30 s, 1.2 requests/s over three tiers, short answers",
      durationSeconds: 30,
      warmupRequestsPerTier: 2,
      seed: 16,
      tiers: [
        {
          tier: "free",
          ratePerSecond: 0.2,
          maxTokens: 16,
          streamingShare: 0.5,
          preAllocatedVUs: 2,
          maxVUs: 8,
          maxErrorRate: 0,
          maxDegradedShare: 0,
        },
        {
          tier: "standard",
          ratePerSecond: 0.5,
          maxTokens: 24,
          streamingShare: 0.6,
          preAllocatedVUs: 2,
          maxVUs: 16,
          maxErrorRate: 0,
          maxDegradedShare: 0,
        },
        {
          tier: "premium",
          ratePerSecond: 0.5,
          maxTokens: 24,
          streamingShare: 0.6,
          preAllocatedVUs: 2,
          maxVUs: 16,
          maxErrorRate: 0,
          maxDegradedShare: 0,
        },
      ],
    },
    // The rated load, for a quiet machine: 6.05 requests/s in all, each tier inside its rate limit
    // (free 20/min, standard 120/min, premium 600/min in the embedded config).
    full: {
      description: "rated load: 180 s, 6.05 requests/s over three tiers",
      durationSeconds: 180,
      warmupRequestsPerTier: 3,
      seed: 16,
      tiers: [
        {
          tier: "free",
          ratePerSecond: 0.25,
          maxTokens: 48,
          streamingShare: 0.5,
          preAllocatedVUs: 2,
          maxVUs: 16,
          maxErrorRate: 0.01,
          maxDegradedShare: 0,
        },
        {
          tier: "standard",
          ratePerSecond: 1.8,
          maxTokens: 64,
          streamingShare: 0.6,
          preAllocatedVUs: 4,
          maxVUs: 32,
          maxErrorRate: 0.01,
          maxDegradedShare: 0.05,
        },
        {
          tier: "premium",
          ratePerSecond: 4,
          maxTokens: 64,
          streamingShare: 0.6,
          preAllocatedVUs: 8,
          maxVUs: 64,
          maxErrorRate: 0.01,
          maxDegradedShare: 0,
        },
      ],
    },
  },
});
