export interface SpecialEntry {
  content: string;
  id: number;
  /** Matched even when parseSpecial is false (llama.cpp user-defined tokens, HF non-special added tokens). */
  always: boolean;
  /** Swallow whitespace to the left / right of the token (HF added-token lstrip / rstrip). */
  lstrip?: boolean;
  rstrip?: boolean;
}

export type Fragment = { kind: "text"; text: string } | { kind: "token"; id: number };

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function buildMatcher(entries: readonly SpecialEntry[]): RegExp | undefined {
  if (entries.length === 0) return undefined;
  // longest first so that the alternation prefers "<|im_end|>" over a shorter token that prefixes it
  const sorted = [...entries].sort((a, b) => b.content.length - a.content.length);
  return new RegExp(sorted.map((e) => escapeRegex(e.content)).join("|"), "gu");
}

/** Splits input text on added/special token strings before any normalisation or pre-tokenization. */
export class SpecialSplitter {
  private readonly byContent = new Map<string, SpecialEntry>();
  private readonly all: RegExp | undefined;
  private readonly alwaysOnly: RegExp | undefined;

  constructor(entries: readonly SpecialEntry[]) {
    const usable = entries.filter((e) => e.content.length > 0);
    for (const e of usable) if (!this.byContent.has(e.content)) this.byContent.set(e.content, e);
    this.all = buildMatcher(usable);
    this.alwaysOnly = buildMatcher(usable.filter((e) => e.always));
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    const regex = parseSpecial ? this.all : this.alwaysOnly;
    if (!regex) return text.length > 0 ? [{ kind: "text", text }] : [];
    const out: Fragment[] = [];
    let stripNextLeft = false;
    let last = 0;
    for (const m of text.matchAll(regex)) {
      const entry = this.byContent.get(m[0]);
      if (!entry) continue;
      let gap = text.slice(last, m.index);
      if (stripNextLeft) gap = gap.trimStart();
      if (entry.lstrip) gap = gap.trimEnd();
      if (gap.length > 0) out.push({ kind: "text", text: gap });
      out.push({ kind: "token", id: entry.id });
      stripNextLeft = entry.rstrip === true;
      last = (m.index ?? 0) + m[0].length;
    }
    let tail = text.slice(last);
    if (stripNextLeft) tail = tail.trimStart();
    if (tail.length > 0) out.push({ kind: "text", text: tail });
    return out;
  }
}
