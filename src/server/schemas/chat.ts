/** `POST /v1/chat/completions` body. Unknown fields are ignored, as OpenAI-compatible servers do. */
import { z } from "zod";
import { MAX_TOP_LOGPROBS } from "../../engines/sampler/index.js";
import { samplingFields } from "./common.js";
import { structuredFields } from "./structured.js";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)]);

const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content, name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content, name: z.string().optional() }),
  z.object({ role: z.literal("assistant"), content: content.nullish(), name: z.string().optional() }),
  z.object({ role: z.literal("tool"), content, tool_call_id: z.string() }),
]);

export const chatSchema = z
  .object({
    ...samplingFields,
    ...structuredFields,
    messages: z.array(message).min(1, "messages must hold at least one message"),
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
  });

export type ChatBody = z.infer<typeof chatSchema>;
export type ChatMessageBody = ChatBody["messages"][number];

/** A message's text, with content parts joined. */
export function messageText(m: ChatMessageBody): string {
  const c = m.content;
  if (c == null) return "";
  return typeof c === "string" ? c : c.map((p) => p.text).join("");
}
