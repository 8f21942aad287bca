/**
 * Splits a constrained tool-call answer into OpenAI's `tool_calls` as it streams: the grammar
 * (engines/constrain) makes the text `{"name": "<function>", "arguments": {…}}`, or a JSON array of
 * such calls, or (tool_choice "auto") plain text that does not open with `{` or `[`. The first
 * character decides which. Arguments are passed on as the model wrote them, piece by piece.
 */

export interface ToolCallEvent {
  /** the call's position in the answer */
  readonly index: number;
  /** set once, when the call's name is complete */
  readonly name?: string;
  /** the next piece of the call's arguments text */
  readonly arguments?: string;
}

export type ScanMode = "pending" | "text" | "calls";

export class ToolCallScanner {
  mode: ScanMode = "pending";
  /** calls whose object has closed */
  private index = 0;
  /** depth of the call objects: 1 for a lone call, 2 inside the array of parallel calls */
  private callDepth = 1;
  private depth = 0;
  private inString = false;
  private escape = false;
  private inArguments = false;
  private afterColon = false;
  private stringRole: "key" | "name" | "other" = "key";
  private key = "";
  private buffer = "";

  /** Every call written so far is complete (a stop string can end the text mid-call). */
  get closed(): boolean {
    return this.mode === "calls" && this.depth === 0 && !this.inString;
  }

  /** The events `text` completes; in text mode there are none (the text is the answer's content). */
  push(text: string): ToolCallEvent[] {
    const events: ToolCallEvent[] = [];
    let args = "";
    const flush = () => {
      if (args !== "") events.push({ index: this.index, arguments: args });
      args = "";
    };
    for (const ch of text) {
      if (this.mode === "pending") {
        if (ch !== "{" && ch !== "[") {
          this.mode = "text";
          return [];
        }
        this.mode = "calls";
        this.callDepth = ch === "[" ? 2 : 1;
      }
      if (this.mode === "text") return events;
      if (this.inArguments) {
        args += ch;
        if (this.stringStep(ch)) continue;
        if (ch === '"') this.inString = true;
        else if (ch === "{" || ch === "[") this.depth++;
        else if (ch === "}" || ch === "]") {
          this.depth--;
          if (this.depth === this.callDepth) {
            this.inArguments = false;
            flush();
          }
        }
        continue;
      }
      if (this.inString) {
        if (ch !== '"') {
          this.buffer += ch;
          continue;
        }
        // keys and names never hold escapes: the grammar writes them from `[a-zA-Z0-9_-]` names
        this.inString = false;
        if (this.stringRole === "key") this.key = this.buffer;
        else if (this.stringRole === "name") events.push({ index: this.index, name: this.buffer });
        this.buffer = "";
        continue;
      }
      switch (ch) {
        case '"':
          this.inString = true;
          this.stringRole = !this.afterColon ? "key" : this.key === "name" ? "name" : "other";
          this.afterColon = false;
          break;
        case ":":
          this.afterColon = this.depth === this.callDepth;
          break;
        case "{":
        case "[":
          if (this.afterColon && this.key === "arguments") {
            this.inArguments = true;
            args += ch;
          }
          this.afterColon = false;
          this.depth++;
          break;
        case "}":
        case "]":
          this.depth--;
          if (this.depth === this.callDepth - 1 && ch === "}") this.index++;
          break;
        default:
          break;
      }
    }
    flush();
    return events;
  }

  /** Inside a string of the arguments: consumes `ch` and returns true. */
  private stringStep(ch: string): boolean {
    if (!this.inString) return false;
    if (this.escape) this.escape = false;
    else if (ch === "\\") this.escape = true;
    else if (ch === '"') this.inString = false;
    return true;
  }
}

export interface ParsedCall {
  readonly name: string;
  readonly arguments: string;
}

/**
 * A whole answer: its calls (possibly cut short by max_tokens or a stop string: then `closed` is false),
 * or null when it is text.
 */
export function parseToolCalls(text: string): { calls: ParsedCall[]; closed: boolean } | null {
  const scanner = new ToolCallScanner();
  const calls: { name: string; arguments: string }[] = [];
  for (const e of scanner.push(text)) {
    calls[e.index] ??= { name: "", arguments: "" };
    const call = calls[e.index]!;
    if (e.name !== undefined) call.name = e.name;
    if (e.arguments !== undefined) call.arguments += e.arguments;
  }
  if (scanner.mode !== "calls") return null;
  return { calls: calls.filter((c) => c !== undefined && c.name !== ""), closed: scanner.closed };
}
