import type { FinishReason } from "../../engines/engine.js";

/** An engine's finish reason as OpenAI reports it: an aborted generation's partial answer ended as a stop. */
export const openAIFinishReason = (r: FinishReason): "stop" | "length" => (r === "length" ? "length" : "stop");
