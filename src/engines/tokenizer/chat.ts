import { Template } from "@huggingface/jinja";
import { ChatTemplateError } from "../errors.js";
import type { ChatMessage, ChatTool } from "./types.js";

/**
 * Used when a model ships no chat template. ChatML is the de-facto default of most instruction-tuned open models
 * (Qwen, SmolLM, many fine-tunes) and its markers are plain text, so it degrades gracefully on other vocabularies.
 * A tool-calling turn writes each call as `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>` (Qwen's
 * convention); a `tool` message is a turn of role `tool`.
 */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}" +
  "{% if message['content'] is not none %}{{ message['content'] }}{% endif %}" +
  "{% if message['tool_calls'] is defined %}{% for call in message['tool_calls'] %}" +
  "{{ '<tool_call>\\n' + ({'name': call['function']['name'], 'arguments': call['function']['arguments']} | tojson) + '\\n</tool_call>' }}" +
  "{% endfor %}{% endif %}{{ '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ChatTemplateContext {
  bosToken?: string;
  eosToken?: string;
}

export class ChatTemplate {
  private compiled: Template | undefined;

  constructor(
    readonly source: string,
    private readonly context: ChatTemplateContext,
  ) {}

  /** `tools` reaches the template as `tools` only when given: templates test `tools is defined`. */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean, tools?: readonly ChatTool[]): string {
    if (!this.compiled) {
      try {
        this.compiled = new Template(this.source);
      } catch (err) {
        throw new Error(`chat template failed to parse: ${errorMessage(err)}`);
      }
    }
    // a template that never reads `tool_calls` would drop the calls without a word: refuse instead
    if (
      messages.some((m) => m.tool_calls !== undefined && m.tool_calls.length > 0) &&
      !this.source.includes("tool_calls")
    ) {
      throw new ChatTemplateError(
        "this model's chat template does not render tool calls (it never reads `tool_calls`)",
      );
    }
    const plain = messages.map(templateMessage);
    try {
      return this.compiled.render({
        messages: plain,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.context.bosToken ?? "",
        eos_token: this.context.eosToken ?? "",
        ...(tools && tools.length > 0 ? { tools: [...tools] } : {}),
      });
    } catch (err) {
      throw new ChatTemplateError(`chat template failed to render: ${errorMessage(err)}`);
    }
  }
}

/**
 * A message as transformers hands it to a Hugging Face template: a plain copy where absent fields stay
 * absent (templates test `message.name is defined`), `content` null on a tool-calling turn, and each
 * call's `arguments` as an object when the OpenAI-style JSON string parses to one (templates apply
 * `tojson` to it; vLLM parses it the same way before rendering).
 */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  const copy: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.name !== undefined) copy.name = m.name;
  if (m.tool_call_id !== undefined) copy.tool_call_id = m.tool_call_id;
  if (m.tool_calls !== undefined) {
    copy.tool_calls = m.tool_calls.map((call) => ({
      ...(call.id === undefined ? {} : { id: call.id }),
      type: call.type,
      function: { name: call.function.name, arguments: parsedArguments(call.function.arguments) },
    }));
  }
  return copy;
}

function parsedArguments(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : value;
  } catch {
    return value;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
