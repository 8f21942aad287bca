import { describe, expect, it } from "vitest";
import { ChatTemplateError } from "../errors.js";
import { byteToChar } from "./bytes.js";
import { CHATML_TEMPLATE, type GGUFVocab, tokenizerFromGGUF } from "./index.js";

const BYTES = Array.from({ length: 256 }, (_, b) => byteToChar(b));

function vocab(chatTemplate?: string): GGUFVocab {
  return {
    model: "gpt2",
    tokens: [...BYTES, "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
    tokenTypes: [...BYTES.map(() => 1), 3, 3, 3, 3],
    merges: [],
    bosId: 256,
    eosId: 257,
    chatTemplate,
  };
}

const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi!" },
];

describe("chat templates", () => {
  it("defaults to ChatML when the model has none", () => {
    const tok = tokenizerFromGGUF(vocab());
    expect(tok.applyChatTemplate(messages)).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    );
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    );
    // the markers are special tokens of this vocabulary, so the rendered prompt encodes them as single ids
    const ids = tok.encode(tok.applyChatTemplate(messages), { addSpecial: false });
    expect(ids.filter((id) => id === 258)).toHaveLength(2);
    expect(tok.eosIds).toEqual([257, 259]);
  });

  it("passes bos_token, eos_token and add_generation_prompt to the model's template", () => {
    const tok = tokenizerFromGGUF(
      vocab(
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% endif %}{% endfor %}" +
          "{% if add_generation_prompt %}>>{% else %}{{ eos_token }}{% endif %}",
      ),
    );
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe("<s>[INST] Hi! [/INST]>>");
    expect(tok.applyChatTemplate(messages)).toBe("<s>[INST] Hi! [/INST]</s>");
  });

  it("exposes message names only when present", () => {
    const tok = tokenizerFromGGUF(
      vocab("{% for m in messages %}{{ m.name if m.name is defined else '-' }}{% endfor %}"),
    );
    expect(
      tok.applyChatTemplate([
        { role: "user", content: "a", name: "bob" },
        { role: "user", content: "b" },
      ]),
    ).toBe("bob-");
  });

  it("wraps template errors with a clear message", () => {
    expect(() => tokenizerFromGGUF(vocab("{% for m in messages %}")).applyChatTemplate(messages)).toThrow(
      /chat template failed to parse/,
    );
    const raising = tokenizerFromGGUF(vocab("{{ raise_exception('only user messages') }}"));
    expect(() => raising.applyChatTemplate(messages)).toThrow(/chat template failed to render: .*only user messages/);
  });

  it("hands tool-calling turns to the template as transformers does: content null, arguments parsed", () => {
    const probe = tokenizerFromGGUF(
      vocab(
        "{% for m in messages %}{{ m.role }}|{{ 'none' if m.content is none else m.content }}|" +
          "{% if m.tool_calls is defined %}{% for c in m.tool_calls %}{{ c.id }}:{{ c.type }}:{{ c.function.name }}:" +
          "{{ c.function.arguments.city if c.function.arguments is mapping else c.function.arguments }};{% endfor %}{% endif %}" +
          "{{ m.tool_call_id if m.tool_call_id is defined else '' }}\n{% endfor %}",
      ),
    );
    const rendered = probe.applyChatTemplate([
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "c1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
          { id: "c2", type: "function", function: { name: "raw", arguments: "not json" } },
        ],
      },
      { role: "tool", content: "18 C", tool_call_id: "c1" },
    ]);
    expect(rendered).toBe(
      "user|weather?|\nassistant|none|c1:function:weather:Paris;c2:function:raw:not json;\ntool|18 C|c1\n",
    );
  });

  it("the ChatML default renders tool calls and tool messages; a template that refuses is a ChatTemplateError", () => {
    const tok = tokenizerFromGGUF(vocab());
    const text = tok.applyChatTemplate([
      {
        role: "assistant",
        content: null,
        tool_calls: [{ type: "function", function: { name: "f", arguments: '{"a":1}' } }],
      },
      { role: "tool", content: "2", tool_call_id: "x" },
    ]);
    expect(text).toBe(
      '<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><|im_end|>\n<|im_start|>tool\n2<|im_end|>\n',
    );
    const refusing = tokenizerFromGGUF(vocab("{{ raise_exception('unsupported role tool') }}"));
    expect(() => refusing.applyChatTemplate(messages)).toThrow(ChatTemplateError);
    // a template that never reads tool_calls would drop them silently: refused instead
    const blind = tokenizerFromGGUF(vocab("{% for m in messages %}{{ m.role }}:{{ m.content }}{% endfor %}"));
    const call = { type: "function" as const, function: { name: "f", arguments: "{}" } };
    expect(() => blind.applyChatTemplate([{ role: "assistant", content: null, tool_calls: [call] }])).toThrow(
      /does not render tool calls/,
    );
    expect(blind.applyChatTemplate([{ role: "tool", content: "2", tool_call_id: "x" }])).toBe("tool:2");
  });

  it("exports the ChatML default", () => {
    expect(CHATML_TEMPLATE).toContain("<|im_start|>");
  });
});
