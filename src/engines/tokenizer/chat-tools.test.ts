import { describe, expect, it } from "vitest";
import { encodeChatWith } from "../generate.js";
import { byteToChar } from "./bytes.js";
import { type GGUFVocab, tokenizerFromGGUF } from "./index.js";

const BYTES = Array.from({ length: 256 }, (_, b) => byteToChar(b));
// the shape of Hugging Face tool-aware templates: a system block listing `tools` when they are defined
const TEMPLATE =
  "{% if tools is defined %}Tools:{% for t in tools %} {{ t.function.name }}({{ t.function.parameters | tojson }}){% endfor %}\n{% endif %}" +
  "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}";

function tokenizer() {
  const vocab: GGUFVocab = {
    model: "gpt2",
    tokens: [...BYTES, "</s>"],
    tokenTypes: [...BYTES.map(() => 1), 3],
    merges: [],
    eosId: 256,
    chatTemplate: TEMPLATE,
  };
  return tokenizerFromGGUF(vocab);
}

const TOOLS = [{ type: "function", function: { name: "wx", parameters: { type: "object", properties: {} } } }];
const messages = [{ role: "user", content: "Hi" }];

describe("tools in chat templates", () => {
  it("passes tools to the template as `tools`, as transformers does", () => {
    expect(tokenizer().applyChatTemplate(messages, { tools: TOOLS })).toBe(
      // (the newline after a block tag is trimmed, as Jinja's trim_blocks does)
      'Tools: wx({"type": "object", "properties": {}})user: Hi\n',
    );
  });

  it("leaves `tools` undefined when none are given, so templates can test for it", () => {
    expect(tokenizer().applyChatTemplate(messages)).toBe("user: Hi\n");
    expect(tokenizer().applyChatTemplate(messages, { tools: [] })).toBe("user: Hi\n");
  });

  it("encodeChatWith renders the tools into the prompt", () => {
    const tok = tokenizer();
    expect(tok.decode(encodeChatWith(tok, messages, TOOLS))).toContain("Tools: wx(");
  });
});
