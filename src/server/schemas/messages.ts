/** Chat messages as the API receives them → what the engine's chat template renders. */
import type { ChatMessage } from "../../engines/tokenizer/index.js";
import { type ChatMessageBody, messageText } from "./chat.js";

/**
 * OpenAI's `developer` role is what `system` was before its newer models; chat templates know only
 * `system`, so it is rendered as one. A tool-calling assistant turn keeps `content` null and its calls;
 * a `tool` message keeps the id of the call it answers.
 */
export function templateMessages(messages: readonly ChatMessageBody[]): ChatMessage[] {
  return messages.map((m) => {
    const role = m.role === "developer" ? "system" : m.role;
    const calls = m.role === "assistant" && m.tool_calls != null && m.tool_calls.length > 0 ? m.tool_calls : undefined;
    const out: ChatMessage = { role, content: calls && m.content == null ? null : messageText(m) };
    if ("name" in m && m.name !== undefined) out.name = m.name;
    if (calls) {
      out.tool_calls = calls.map((c) => ({
        id: c.id,
        type: c.type,
        function: { name: c.function.name, arguments: c.function.arguments },
      }));
    }
    if (m.role === "tool") out.tool_call_id = m.tool_call_id;
    return out;
  });
}

/** The text a message contributes to the prompt, for the router's and the limiter's token estimate. */
export function routeText(m: ChatMessage): string {
  const calls = m.tool_calls?.map((c) => `${c.function.name}${String(c.function.arguments)}`).join("") ?? "";
  return (m.content ?? "") + calls;
}
