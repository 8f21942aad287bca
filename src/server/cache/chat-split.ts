/** The semantic mode's split of a chat body: its last message, when a user wrote it, and the rest. */
import { type ChatBody, messageText } from "../schemas/chat.js";
import type { SemanticSplit } from "./lookup.js";

export const chatSemanticSplit: SemanticSplit<ChatBody> = (body) => {
  const last = body.messages.at(-1);
  if (last?.role !== "user") return null;
  const blanked = { ...last, content: "" };
  return { text: messageText(last), context: { ...body, messages: [...body.messages.slice(0, -1), blanked] } };
};
