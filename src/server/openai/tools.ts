/**
 * Structured output for chat: `response_format` and `tools` / `tool_choice` / `parallel_tool_calls`
 * become a constraint on the generation (engines/constrain), and tool-call answers are returned in
 * OpenAI's `tool_calls` shape, whole or streamed.
 *
 * - `response_format` `text` (or absent): no constraint. `json_object`: any JSON object. `json_schema`:
 *   the schema's language (`strict` also requires OpenAI's strict-mode schema rules). OpenAI refuses
 *   json_object unless a message mentions "JSON"; that rule exists because its models may otherwise
 *   write whitespace until max_tokens, which the grammar here cannot do (whitespace is bounded), so it
 *   is not mirrored.
 * - `tools` with `tool_choice` `"required"` or `{type: "function", function: {name}}`: the answer is a
 *   call `{"name": …, "arguments": …}` of one of the functions (or of the named one); with
 *   `parallel_tool_calls` (OpenAI's default, true) it may also be a JSON array of up to 8 calls.
 *   `"auto"` (the default with tools): either such a call or plain text, decided by the first
 *   character: `{` or `[` starts a call, anything else is text (so a text answer cannot open with
 *   those). `"none"`: no constraint; the tools still reach the chat template, as OpenAI still shows
 *   them to the model, but no call is made.
 * - Tools reach the model through its chat template's `tools` variable (Hugging Face convention);
 *   a template that ignores it shows the model nothing, and the constraint still makes a valid call.
 * - Refused with a 400 naming the param: a schema part the grammar cannot express, `tool_choice`
 *   without `tools`, a named function that is not among them, duplicate names, and `response_format`
 *   json together with callable tools (the two grammars would compete for the first character).
 */
import {
  type ConstraintSpec,
  compileConstraint,
  type FunctionSpec,
  SchemaError,
} from "../../engines/constrain/index.js";
import type { PoolToken } from "../../engines/pool/index.js";
import type { ChatTool } from "../../engines/tokenizer/index.js";
import { invalidRequest } from "../errors.js";
import type { ChoiceOutcome } from "../gateway/answer.js";
import { newId } from "../ids.js";
import type { StructuredBody } from "../schemas/structured.js";
import { chatChunk, chatCompletion } from "./chat-format.js";
import { openAIFinishReason } from "./finish-reason.js";
import type { Format, Usage } from "./format.js";
import { chatLogprobs } from "./logprobs.js";
import { parseToolCalls, ToolCallScanner } from "./tool-calls.js";

export interface StructuredOutput {
  readonly constraint?: ConstraintSpec;
  /** for the chat template */
  readonly tools?: readonly ChatTool[];
  /** the answer is parsed as tool calls (or, with `orText`, text when it does not open with one) */
  readonly toolCalls: boolean;
}

/** Throws a 400 ApiError naming the param for what is refused. */
export function structuredOutput(body: StructuredBody): StructuredOutput {
  const tools = body.tools ?? undefined;
  const choice = body.tool_choice ?? undefined;
  if (choice !== undefined && tools === undefined) {
    throw invalidRequest("'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "invalid_value");
  }
  if (body.parallel_tool_calls != null && tools === undefined) {
    throw invalidRequest(
      "'parallel_tool_calls' is only allowed when 'tools' are specified.",
      "parallel_tool_calls",
      "invalid_value",
    );
  }
  const callable = tools !== undefined && choice !== "none";
  const format = body.response_format ?? undefined;
  if (callable && format !== undefined && format.type !== "text") {
    throw invalidRequest(
      "'response_format' json_object or json_schema cannot be combined with callable 'tools' here; use tool_choice \"none\" or leave response_format out.",
      "response_format",
      "unsupported_value",
    );
  }
  const chatTools = tools?.map((t) => t as ChatTool);
  let constraint: ConstraintSpec | undefined;
  if (callable) {
    const seen = new Set<string>();
    const functions: FunctionSpec[] = tools.map((t, i) => {
      const name = t.function.name;
      if (seen.has(name)) {
        throw invalidRequest(
          `Tool names must be unique; '${name}' is repeated.`,
          `tools[${i}].function.name`,
          "invalid_value",
        );
      }
      seen.add(name);
      return {
        name,
        parameters: t.function.parameters,
        strict: t.function.strict === true,
        path: `tools[${i}].function.parameters`,
      };
    });
    let allowed = functions;
    if (typeof choice === "object") {
      allowed = functions.filter((f) => f.name === choice.function.name);
      if (allowed.length === 0) {
        throw invalidRequest(
          `'tool_choice' names the function '${choice.function.name}', which is not in 'tools'.`,
          "tool_choice.function.name",
          "invalid_value",
        );
      }
    }
    // every function's schema is checked, also those tool_choice excludes
    for (const f of functions) compiled({ kind: "tool_call", functions: [f], parallel: false, orText: false });
    constraint = {
      kind: "tool_call",
      functions: allowed,
      parallel: body.parallel_tool_calls !== false,
      orText: choice === undefined || choice === "auto",
    };
  } else if (format?.type === "json_object") {
    constraint = { kind: "json_object" };
  } else if (format?.type === "json_schema") {
    constraint = {
      kind: "json_schema",
      schema: format.json_schema.schema ?? {},
      strict: format.json_schema.strict === true,
      path: "response_format.json_schema.schema",
    };
  }
  if (constraint) compiled(constraint);
  return {
    ...(constraint ? { constraint } : {}),
    ...(chatTools ? { tools: chatTools } : {}),
    toolCalls: callable,
  };
}

function compiled(spec: ConstraintSpec): void {
  try {
    compileConstraint(spec);
  } catch (e) {
    if (e instanceof SchemaError) throw invalidRequest(`Invalid schema: ${e.message}.`, e.path, "invalid_value");
    throw e;
  }
}

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/**
 * Chat answers whose text is a constrained tool call: `message.tool_calls` with `content: null` and
 * `finish_reason: "tool_calls"` (or "length" when max_tokens cut the call); streamed as OpenAI streams
 * them, the call's id, type and name first, then its arguments piece by piece. An "auto" answer that
 * turned out to be text is an ordinary chat answer.
 */
export function toolCallFormat(
  id: string,
  created: number,
  model: string,
  logprobs: boolean,
  includeUsage: boolean,
): Format {
  const chunk = chatChunk(id, created, model, includeUsage);
  const completion = chatCompletion(id, created, model);
  const scanners = new Map<number, ToolCallScanner>();
  const roleSent = new Set<number>();
  const scanner = (index: number) => {
    let s = scanners.get(index);
    if (!s) {
      s = new ToolCallScanner();
      scanners.set(index, s);
    }
    return s;
  };
  const choiceChunk = (index: number, delta: Record<string, unknown>, tokens: readonly PoolToken[]) => {
    // the role goes with the first delta, once it is known whether content is text (a string) or calls (null)
    const first = !roleSent.has(index);
    roleSent.add(index);
    return chunk([
      {
        index,
        delta: first ? { role: "assistant", refusal: null, ...delta } : delta,
        logprobs: logprobs && tokens.length > 0 ? chatLogprobs(tokens) : null,
        finish_reason: null,
      },
    ]);
  };
  return {
    start: () => null,
    delta: (index, text, tokens) => {
      const s = scanner(index);
      const events = s.push(text);
      if (s.mode === "text")
        return text === "" && tokens.length === 0 ? null : choiceChunk(index, { content: text }, tokens);
      if (events.length === 0) return tokens.length > 0 && logprobs ? choiceChunk(index, {}, tokens) : null;
      const calls = events.map((e) =>
        e.name !== undefined
          ? {
              index: e.index,
              id: newId("call_"),
              type: "function",
              function: { name: e.name, arguments: e.arguments ?? "" },
            }
          : { index: e.index, function: { arguments: e.arguments } },
      );
      return choiceChunk(
        index,
        roleSent.has(index) ? { tool_calls: calls } : { content: null, tool_calls: calls },
        tokens,
      );
    },
    finish: (index, reason) => {
      const scanned = scanners.get(index);
      const calls = scanned?.mode === "calls";
      const delta = roleSent.has(index) ? {} : { role: "assistant", content: calls ? null : "", refusal: null };
      roleSent.add(index);
      return chunk([
        {
          index,
          delta,
          logprobs: null,
          finish_reason: calls && scanned.closed && reason === "stop" ? "tool_calls" : reason,
        },
      ]);
    },
    usage: (usage) => chunk([], usage),
    complete: (outcomes: readonly ChoiceOutcome[], usage: Usage) =>
      completion(
        outcomes.map((o) => {
          const parsed = parseToolCalls(o.result.text);
          const calls = parsed?.calls ?? null;
          const reason = openAIFinishReason(o.result.finishReason);
          const message =
            calls === null
              ? { role: "assistant", content: o.result.text, refusal: null, annotations: [] }
              : {
                  role: "assistant",
                  content: null,
                  refusal: null,
                  annotations: [],
                  ...(calls.length > 0
                    ? {
                        tool_calls: calls.map(
                          (c): ToolCallOut => ({ id: newId("call_"), type: "function", function: { ...c } }),
                        ),
                      }
                    : {}),
                };
          return {
            index: o.index,
            message,
            logprobs: logprobs ? chatLogprobs(o.result.tokens) : null,
            // "tool_calls" only for complete calls: a stop string may have cut one short
            finish_reason: parsed?.closed && reason === "stop" ? "tool_calls" : reason,
          };
        }),
        usage,
      ),
  };
}
