/** Fields chat and legacy completions share, and their mapping to the sampler's parameters. */
import { z } from "zod";
import type { SamplingParams } from "../../engines/sampler/index.js";

export const MAX_N = 8;
export const MAX_STOP = 4;

export const stopSchema = z
  .union([z.string().min(1), z.array(z.string().min(1)).max(MAX_STOP, `at most ${MAX_STOP} stop sequences`)])
  .nullish();

const finite = () => z.number().refine(Number.isFinite, "must be a finite number");

export const samplingFields = {
  model: z.string().min(1, "model must be a non-empty string").max(256),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.int().min(1).max(MAX_N).nullish(),
  stop: stopSchema,
  seed: z.int().nullish(),
  temperature: finite().min(0).max(2).nullish(),
  top_p: finite().min(0).max(1).nullish(),
  max_tokens: z.int().min(1).nullish(),
  frequency_penalty: finite().min(-2).max(2).nullish(),
  presence_penalty: finite().min(-2).max(2).nullish(),
  logit_bias: z
    .record(z.string().regex(/^\d+$/, "logit_bias keys are token ids"), finite().min(-100).max(100))
    .nullish(),
};

/** `stream_options` only goes with `stream: true` (OpenAI refuses it otherwise). */
export function checkStreamOptions(
  body: { stream?: boolean | null | undefined; stream_options?: unknown },
  ctx: z.RefinementCtx,
): void {
  if (body.stream_options != null && body.stream !== true) {
    ctx.addIssue({
      code: "custom",
      path: ["stream_options"],
      message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    });
  }
}

export interface SamplingInput {
  readonly seed?: number | null | undefined;
  readonly temperature?: number | null | undefined;
  readonly top_p?: number | null | undefined;
  readonly frequency_penalty?: number | null | undefined;
  readonly presence_penalty?: number | null | undefined;
  readonly logit_bias?: Record<string, number> | null | undefined;
}

/** OpenAI fields → SamplingParams; `choice` offsets the seed so n > 1 choices differ but stay reproducible. */
export function samplingParams(body: SamplingInput, topLogprobs: number, choice: number): SamplingParams {
  const params: SamplingParams = {};
  if (body.temperature != null) params.temperature = body.temperature;
  // top_p = 0 keeps nothing but the most likely token: greedy
  if (body.top_p != null) {
    if (body.top_p === 0) params.temperature = 0;
    else params.topP = body.top_p;
  }
  if (body.frequency_penalty != null) params.frequencyPenalty = body.frequency_penalty;
  if (body.presence_penalty != null) params.presencePenalty = body.presence_penalty;
  if (body.seed != null) params.seed = body.seed + choice;
  if (body.logit_bias != null)
    params.logitBias = Object.fromEntries(Object.entries(body.logit_bias).map(([k, v]) => [Number(k), v]));
  if (topLogprobs > 0) params.topLogprobs = topLogprobs;
  return params;
}

export function stopList(stop: string | readonly string[] | null | undefined): string[] {
  if (stop == null) return [];
  return typeof stop === "string" ? [stop] : [...stop];
}
