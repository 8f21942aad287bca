/** `POST /v1/completions` (legacy) body: text prompts only. */
import { z } from "zod";
import { samplingFields } from "./common.js";

export const completionSchema = z.object({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(16)]),
  logprobs: z.int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.null().optional(),
  best_of: z.literal(1).nullish(),
});

export type CompletionBody = z.infer<typeof completionSchema>;
