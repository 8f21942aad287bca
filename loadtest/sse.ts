/**
 * Reading an OpenAI-style SSE stream as it arrives: `SseParser` turns text chunks (split anywhere,
 * even inside a line) into the `data` of complete events, and `classifyChunk` tells what one is.
 * TTFT is the first `content` chunk: a chat stream's first chunk carries only the role
 * (`delta: {role, content: ""}`), and the response headers come before any token, so neither counts.
 */

export class SseParser {
  private buffer = "";
  private data: string[] = [];

  /** The data of every event this chunk completes (multi-line data joined by "\n"). */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const end = this.buffer.indexOf("\n");
      if (end < 0) break;
      let line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.data.length > 0) events.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
      // comments (":…"), event names, ids and retry fields carry nothing a completion stream uses
    }
    return events;
  }
}

export type ChunkKind = "content" | "empty" | "done" | "error";

interface StreamChunk {
  readonly error?: unknown;
  readonly choices?: ReadonlyArray<{ readonly delta?: { readonly content?: unknown }; readonly text?: unknown }>;
}

/** What an event's data is: generated text (chat `delta.content` or completions `text`, non-empty),
 * a chunk without text (role, finish, usage), the `[DONE]` end, or an error event. */
export function classifyChunk(data: string): ChunkKind {
  if (data === "[DONE]") return "done";
  let chunk: StreamChunk;
  try {
    chunk = JSON.parse(data) as StreamChunk;
  } catch {
    return "error";
  }
  if (chunk === null || typeof chunk !== "object" || chunk.error !== undefined) return "error";
  const hasText = (chunk.choices ?? []).some((c) => {
    const text = c.delta?.content ?? c.text;
    return typeof text === "string" && text.length > 0;
  });
  return hasText ? "content" : "empty";
}
