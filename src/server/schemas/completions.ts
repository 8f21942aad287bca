/** `POST /v1/completions` (legacy) body: text prompts only; unknown fields are a 400 naming them. */
import { z } from "zod";
import { checkStreamOptions, samplingFields } from "./common.js";
import { IGNORED_FIELDS } from "./parameters.js";

export const completionSchema = z
  .strictObject({
    ...samplingFields,
    ...IGNORED_FIELDS,
    prompt: z.union([z.string(), z.array(z.string()).min(1).max(16)]),
    logprobs: z.int().min(0).max(5).nullish(),
    echo: z.boolean().nullish(),
    suffix: z.null().optional(),
    best_of: z.literal(1).nullish(),
  })
  .superRefine(checkStreamOptions);

export type CompletionBody = z.infer<typeof completionSchema>;
