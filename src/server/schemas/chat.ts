/**
 * `POST /v1/chat/completions` body. Top-level fields are checked strictly: an unknown one is a 400
 * naming it (see `parameters.ts` for the fields accepted and ignored, and the ones refused). Inside a
 * message, fields OpenAI puts on a returned assistant message (`refusal`, `annotations`, …) are
 * dropped, so a client may send a response's message back as it got it.
 */
import { z } from "zod";
import { MAX_TOP_LOGPROBS } from "../../engines/sampler/index.js";
import { checkStreamOptions, samplingFields } from "./common.js";
import { IGNORED_CHAT_FIELDS, UNSUPPORTED, UNSUPPORTED_CHAT_FIELDS } from "./parameters.js";
import { structuredFields } from "./structured.js";

/** Text parts only: another part type is refused by name rather than dropped. */
const part = z.object({ type: z.string(), text: z.unknown().optional() }).superRefine((p, ctx) => {
  if (p.type !== "text") {
    ctx.addIssue({
      code: "custom",
      path: ["type"],
      message: `content parts of type '${p.type}' are not supported: these models read text only`,
      params: { code: UNSUPPORTED },
    });
  } else if (typeof p.text !== "string") {
    ctx.addIssue({ code: "custom", path: ["text"], message: "a text part needs a string `text`" });
  }
});
const content = z.union([z.string(), z.array(part).min(1)]);

const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content, name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content, name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: content.nullish(),
    name: z.string().optional(),
    tool_calls: z.array(toolCall).nullish(),
  }),
  z.object({ role: z.literal("tool"), content, tool_call_id: z.string().min(1) }),
]);

/** Most messages a chat request may hold: the body limit bounds the bytes, this the count (each message is
 * template work before a single token is counted). */
export const MAX_MESSAGES = 2048;

export const chatSchema = z
  .strictObject({
    ...samplingFields,
    ...IGNORED_CHAT_FIELDS,
    ...structuredFields,
    ...UNSUPPORTED_CHAT_FIELDS,
    messages: z
      .array(message)
      .min(1, "messages must hold at least one message")
      .max(MAX_MESSAGES, `messages may hold at most ${MAX_MESSAGES} messages`),
    max_completion_tokens: z.int().min(1).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  })
  .superRefine((body, ctx) => {
    if (body.top_logprobs != null && body.top_logprobs > 0 && body.logprobs !== true) {
      ctx.addIssue({
        code: "custom",
        path: ["top_logprobs"],
        message: "logprobs must be true when top_logprobs is set",
      });
    }
    checkStreamOptions(body, ctx);
  });

export type ChatBody = z.infer<typeof chatSchema>;
export type ChatMessageBody = ChatBody["messages"][number];

/** A message's text, with content parts joined. */
export function messageText(m: ChatMessageBody): string {
  const c = m.content;
  if (c == null) return "";
  return typeof c === "string" ? c : c.map((p) => (typeof p.text === "string" ? p.text : "")).join("");
}
