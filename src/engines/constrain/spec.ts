/**
 * What a request asks its output to be, as plain data: it crosses the worker boundary and is compiled
 * there (and once before, on the main thread, to refuse an unsupported schema with a 400).
 */
import { SchemaError } from "./errors.js";
import { ANY_OBJECT, type GrammarNode, jsonBytes, objectRule } from "./grammar.js";
import { compileSchema } from "./schema.js";

export interface FunctionSpec {
  readonly name: string;
  /** the function's parameters schema; absent means it takes none (`{}`) */
  readonly parameters?: unknown;
  readonly strict: boolean;
  /** where its parameters sit in the request: "tools[0].function.parameters" */
  readonly path: string;
}

export type ConstraintSpec =
  /** any JSON object (OpenAI's json_object) */
  | { readonly kind: "json_object" }
  | { readonly kind: "json_schema"; readonly schema: unknown; readonly strict: boolean; readonly path: string }
  /**
   * `{"name": …, "arguments": …}` for one of `functions`; with `parallel`, also a JSON array of such calls;
   * with `orText`, alternatively plain text that does not start with `{` or `[` (tool_choice "auto").
   */
  | {
      readonly kind: "tool_call";
      readonly functions: readonly FunctionSpec[];
      readonly parallel: boolean;
      readonly orText: boolean;
    };

/** At most this many calls in one parallel answer. */
export const MAX_PARALLEL_CALLS = 8;

const NO_PARAMETERS = objectRule([], null);

/** Throws SchemaError naming the request path of what is refused. */
export function compileConstraint(spec: ConstraintSpec): GrammarNode {
  switch (spec.kind) {
    case "json_object":
      return ANY_OBJECT;
    case "json_schema":
      return compileSchema(spec.schema, { strict: spec.strict, path: spec.path });
    case "tool_call": {
      if (spec.functions.length === 0) throw new SchemaError("tools", "no function to call");
      const calls = spec.functions.map((f) => callRule(f));
      const call: GrammarNode = calls.length === 1 ? calls[0]! : { kind: "union", options: calls };
      const options: GrammarNode[] = [call];
      if (spec.parallel) options.push({ kind: "array", items: call, minItems: 1, maxItems: MAX_PARALLEL_CALLS });
      if (spec.orText) options.push({ kind: "text", exclude: [0x7b, 0x5b] });
      return options.length === 1 ? call : { kind: "union", options };
    }
  }
}

function callRule(f: FunctionSpec): GrammarNode {
  let args = NO_PARAMETERS as GrammarNode;
  if (f.parameters !== undefined) {
    const schema = f.parameters;
    const type = typeof schema === "object" && schema !== null ? (schema as { type?: unknown }).type : undefined;
    if (type !== "object")
      throw new SchemaError(`${f.path}.type`, "a function's parameters must be a schema of type 'object'");
    args = compileSchema(schema, { strict: f.strict, path: f.path });
  }
  return objectRule(
    [
      { key: jsonBytes("name"), value: { kind: "literal", options: [jsonBytes(f.name)] }, required: true },
      { key: jsonBytes("arguments"), value: args, required: true },
    ],
    null,
  );
}
