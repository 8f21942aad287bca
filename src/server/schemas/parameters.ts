/**
 * Every body field that is not a generation parameter, in one place, with why it is treated as it is.
 * Anything else a body carries is refused (400 `unknown_parameter` naming it), as OpenAI refuses
 * unrecognized arguments.
 *
 * Accepted and ignored: fields OpenAI accepts that change nothing about the answer here (the openai
 * SDK sends none of them unless the caller sets it). Each is still type-checked.
 *
 * Refused (400 `unsupported_parameter`): OpenAI features this server does not have, where ignoring the
 * field would hand back something else than what was asked for. `null` counts as absent.
 */
import { z } from "zod";

/** The `params.code` a refinement sets so the validator answers with that `code`. */
export const UNSUPPORTED = "unsupported_parameter";

/** Accepted and ignored by both endpoints. */
export const IGNORED_FIELDS = {
  /** an end-user id for OpenAI's abuse monitoring; nothing here reads it */
  user: z.string().max(256).nullish(),
};

/** Accepted and ignored by chat completions. */
export const IGNORED_CHAT_FIELDS = {
  ...IGNORED_FIELDS,
  /** OpenAI's successor to `user` (abuse monitoring) */
  safety_identifier: z.string().max(256).nullish(),
  /** tags for completions stored with `store`; nothing is stored here */
  metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  /** whether OpenAI keeps the completion for its evals and distillation; this server keeps none */
  store: z.boolean().nullish(),
  /** a routing hint for OpenAI's prompt cache; this server has none */
  prompt_cache_key: z.string().max(1024).nullish(),
  /** "auto" and "default" both mean the tenant's own tier here; the paid processing tiers do not exist */
  service_tier: z
    .enum(["auto", "default"], { error: "only 'auto' and 'default' are served here (the tenant's tier decides)" })
    .nullish(),
  /** text is the only output modality; asking for it is asking for what is served */
  modalities: z.array(z.literal("text", { error: "only the text modality is served" })).nullish(),
};

const unsupported = (why: string) =>
  z
    .unknown()
    .refine((v) => v === null || v === undefined, { message: why, params: { code: UNSUPPORTED } })
    .optional();

/** OpenAI chat fields refused with 400. */
export const UNSUPPORTED_CHAT_FIELDS = {
  audio: unsupported("audio output is not supported: these are text models"),
  prediction: unsupported("predicted outputs are not supported"),
  web_search_options: unsupported("web search is not supported"),
  reasoning_effort: unsupported("reasoning_effort is not supported with these models (they are not reasoning models)"),
  verbosity: unsupported("verbosity is not supported with these models"),
  functions: unsupported("the deprecated functions parameter is not supported; use tools"),
  function_call: unsupported("the deprecated function_call parameter is not supported; use tool_choice"),
};
