import { Template } from "@huggingface/jinja";
import type { ChatMessage, ChatTool } from "./types.js";

/**
 * Used when a model ships no chat template. ChatML is the de-facto default of most instruction-tuned open models
 * (Qwen, SmolLM, many fine-tunes) and its markers are plain text, so it degrades gracefully on other vocabularies.
 */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
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
    // plain copies: templates may test `message.name is defined`, so absent fields must stay absent
    const plain = messages.map((m) => {
      const copy: Record<string, string> = { role: m.role, content: m.content };
      if (m.name !== undefined) copy.name = m.name;
      return copy;
    });
    try {
      return this.compiled.render({
        messages: plain,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.context.bosToken ?? "",
        eos_token: this.context.eosToken ?? "",
        ...(tools && tools.length > 0 ? { tools: [...tools] } : {}),
      });
    } catch (err) {
      throw new Error(`chat template failed to render: ${errorMessage(err)}`);
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
