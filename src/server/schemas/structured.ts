/** The chat body's structured-output fields: `response_format`, `tools`, `tool_choice`, `parallel_tool_calls`. */
import { z } from "zod";

/** OpenAI's rule for function and schema names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const name = () => z.string().regex(NAME, "must be 1 to 64 letters, digits, underscores or dashes");
/** a JSON Schema; what it may contain is checked by the constraint compiler (engines/constrain) */
const schemaObject = z.record(z.string(), z.unknown());

export const MAX_TOOLS = 128;

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: name(),
      description: z.string().optional(),
      schema: schemaObject.optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const functionTool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: name(),
    description: z.string().optional(),
    parameters: schemaObject.optional(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);

export const structuredFields = {
  response_format: responseFormat.nullish(),
  tools: z.array(functionTool).min(1, "tools must hold at least one tool").max(MAX_TOOLS).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
};

/** The structured-output part of a chat body, as the schema validates it. */
export type StructuredBody = z.infer<z.ZodObject<typeof structuredFields>>;
