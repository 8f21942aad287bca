/**
 * Request analysis: what a prompt asks for, cheaply and deterministically. Each detector adds a weight to
 * its signal's score (capped at 1) and names itself in the evidence; the signals combine into a quality need.
 */

import type { QualityHint, RequestFeatures, RouteRequest, Signal, SignalKind } from "./types.js";

/** A signal at or above this score counts as present. */
export const SIGNAL_FLAG_THRESHOLD = 0.5;
/** The quality need of a request with no signals (short chit-chat). */
export const BASE_NEED = 0.4;
/** How much each signal, at full strength, pulls the need from BASE_NEED towards 1. */
export const SIGNAL_NEED_WEIGHTS: Readonly<Record<SignalKind, number>> = {
  code: 0.9,
  math: 0.9,
  multiStep: 0.6,
  length: 0.4,
};
export const HINT_NEEDS: Readonly<Record<Exclude<QualityHint, number>, number>> = {
  low: 0,
  standard: 0.6,
  high: 1,
};
/** Estimated output tokens: chit-chat, an ordinary instruction, and the cap on any estimate. */
export const CHAT_OUTPUT_TOKENS = 64;
export const BASE_OUTPUT_TOKENS = 256;
export const MAX_ESTIMATED_OUTPUT_TOKENS = 1024;
/** Prompt lengths where the length signal starts and where it saturates. */
export const LENGTH_SIGNAL_FROM = 256;
export const LENGTH_SIGNAL_FULL = 4096;
/** Only this much text is scanned, so analysis stays cheap on huge prompts. */
export const MAX_SCAN_CHARS = 64 * 1024;

interface Detector {
  readonly label: string;
  readonly weight: number;
  readonly pattern: RegExp;
}

const CODE_SYNTAX: readonly Detector[] = [
  { label: "def", weight: 0.35, pattern: /\bdef\s+\w+\s*\(/ },
  { label: "function", weight: 0.35, pattern: /\bfunction\s*\w*\s*\([^)\n]*\)\s*\{/ },
  { label: "arrow_function", weight: 0.35, pattern: /\([^()\n]*\)\s*=>/ },
  { label: "declaration", weight: 0.35, pattern: /\b(?:const|let|var)\s+\w+\s*=/ },
  { label: "include", weight: 0.35, pattern: /#include\s*[<"]/ },
  {
    label: "import",
    weight: 0.35,
    pattern: /^\s*(?:import\s+[\w*{][^\n]*\bfrom\b|from\s+[\w.]+\s+import\s|import\s+[\w.]+;?\s*$)/m,
  },
  { label: "class", weight: 0.35, pattern: /\bclass\s+[A-Z]\w*\s*(?:\(|\{|:|extends\b|implements\b)/ },
  {
    label: "typed_declaration",
    weight: 0.35,
    pattern: /\b(?:public|private|static)\s+(?:static\s+)?(?:void|int|class|String)\b/,
  },
  { label: "sql", weight: 0.35, pattern: /\bSELECT\b[^;]{1,200}?\bFROM\b/ },
  { label: "statement", weight: 0.35, pattern: /\w\([^()\n]*\);\s*$/m },
  { label: "closing_brace", weight: 0.2, pattern: /^\s*\}[;)]*\s*$/m },
  { label: "html", weight: 0.35, pattern: /<\/?(?:div|span|html|body|script|ul|li|table|button)\b[^>\n]*>/i },
  { label: "shell", weight: 0.35, pattern: /^\s*\$\s+(?:npm|npx|git|pip|cargo|docker|sudo|make|curl)\b/m },
];

const STACK_TRACE: readonly Detector[] = [
  { label: "python_traceback", weight: 0.8, pattern: /Traceback \(most recent call last\)/ },
  { label: "js_stack_frame", weight: 0.8, pattern: /^\s+at [\w$.<>[\] ]+ ?\(?[^\n()]*:\d+:\d+\)?\s*$/m },
  { label: "python_frame", weight: 0.8, pattern: /File "[^"\n]+", line \d+/ },
  { label: "exception", weight: 0.5, pattern: /\b[A-Z]\w*(?:Error|Exception):/ },
];

const CODE_WORDS =
  /\b(python|javascript|typescript|rust|golang|java|kotlin|sql|regex|compiler?|compile|debug|refactor|function|algorithm|api|bug|code|script|segfault)\b/gi;

const MATH: readonly Detector[] = [
  { label: "power", weight: 0.4, pattern: /[a-zA-Z)]\s*(?:\^|\*\*)\s*\d/ },
  { label: "variable_term", weight: 0.35, pattern: /\d[a-z]\b|\b[a-z]\s*[-+*/^]\s*\d/ },
  { label: "equation", weight: 0.35, pattern: /(?:^|[\s(])[a-z]\s*(?:=|<=|>=|[<>≤≥])\s*[-+]?[\d(]/m },
  {
    label: "latex",
    weight: 0.5,
    pattern: /\\(?:frac|int|sum|sqrt|lim|partial|cdot|infty|alpha|beta|theta)\b|\$[^$\n]+\$/,
  },
  { label: "math_symbol", weight: 0.4, pattern: /[∫∑∏√π≤≥≠∞∂∇]/ },
];

const ARITHMETIC = /\d\s*[+*/^×÷]\s*\d|\d\s+[-−]\s+\d/g;

const MATH_WORDS =
  /\b(prove|proof|solve|integral|integrate|derivative|differentiate|theorem|lemma|equation|matri(?:x|ces)|eigen\w*|probability|polynomial|logarithm|factorial|calculate|compute|simplify|irrational|square root|prime numbers?)\b/gi;

const MULTI_STEP: readonly Detector[] = [
  { label: "step_by_step", weight: 0.6, pattern: /\bstep[- ]by[- ]step\b/i },
  {
    label: "sequence",
    weight: 0.4,
    pattern: /\b(?:first|firstly)\b[\s\S]{0,300}?\b(?:then|next|after that|finally)\b/i,
  },
  {
    label: "walkthrough",
    weight: 0.3,
    pattern: /\b(?:walk me through|break (?:it|this) down|in detail|explain how)\b/i,
  },
];

const LONG_FORM = /\b(?:essay|article|story|report|in detail|comprehensive|tutorial|write an?)\b/i;

export function analyse(request: RouteRequest): RequestFeatures {
  const promptTokens = wholeNonNegative(request.promptTokens);
  const all = request.messages
    .map((m) => m.content)
    .join("\n")
    .slice(0, MAX_SCAN_CHARS);
  const lastUser = ([...request.messages].reverse().find((m) => m.role === "user")?.content ?? "").slice(
    0,
    MAX_SCAN_CHARS,
  );

  const signals: Record<SignalKind, Signal> = {
    code: codeSignal(all),
    math: mathSignal(all),
    multiStep: multiStepSignal(all, lastUser),
    length: lengthSignal(promptTokens),
  };

  let keep = 1;
  for (const kind of Object.keys(SIGNAL_NEED_WEIGHTS) as SignalKind[]) {
    keep *= 1 - SIGNAL_NEED_WEIGHTS[kind] * signals[kind].score;
  }
  const contentNeed = clamp01(BASE_NEED + (1 - BASE_NEED) * (1 - keep));
  const hinted = hintNeed(request.qualityHint);

  const maxTokens = request.maxTokens;
  const fromMax = maxTokens !== undefined && Number.isFinite(maxTokens) && maxTokens > 0;
  const slaMsHint =
    request.slaMsHint !== undefined && Number.isFinite(request.slaMsHint) && request.slaMsHint > 0
      ? request.slaMsHint
      : null;

  return {
    promptTokens,
    expectedOutputTokens: fromMax ? Math.floor(maxTokens) : estimateOutput(signals, lastUser, all),
    expectedOutputSource: fromMax ? "max_tokens" : "estimate",
    signals,
    contentNeed,
    qualityNeed: hinted ?? contentNeed,
    qualityNeedSource: hinted === null ? "analysis" : "hint",
    slaMsHint,
  };
}

function codeSignal(text: string): Signal {
  const found = new Accumulator();
  const fences = text.match(/```/g)?.length ?? 0;
  if (fences > 0) found.add(`code_fence:${Math.ceil(fences / 2)}`, 1);
  found.addDetectors(STACK_TRACE, text, "stack_trace:");
  found.addDetectors(CODE_SYNTAX, text, "syntax:");
  found.addWords(CODE_WORDS, text, 0.15);
  return found.signal();
}

function mathSignal(text: string): Signal {
  const found = new Accumulator();
  found.addDetectors(MATH, text, "");
  const arithmetic = text.match(ARITHMETIC)?.length ?? 0;
  if (arithmetic > 0) found.add(`arithmetic:${arithmetic}`, Math.min(0.5, 0.25 * arithmetic));
  found.addWords(MATH_WORDS, text, 0.35);
  return found.signal();
}

function multiStepSignal(text: string, lastUser: string): Signal {
  const found = new Accumulator();
  const numbered = text.match(/^\s*\d+[.)]\s+\S/gm)?.length ?? 0;
  if (numbered >= 2) found.add(`numbered_list:${numbered}`, Math.min(0.8, 0.5 + 0.1 * (numbered - 2)));
  const bullets = text.match(/^\s*[-*•]\s+\S/gm)?.length ?? 0;
  if (bullets >= 3) found.add(`bullet_list:${bullets}`, 0.4);
  found.addDetectors(MULTI_STEP, text, "");
  const questions = lastUser.match(/\?/g)?.length ?? 0;
  if (questions >= 2) found.add(`questions:${questions}`, Math.min(0.6, 0.3 * (questions - 1)));
  return found.signal();
}

function lengthSignal(promptTokens: number): Signal {
  const score = clamp01((promptTokens - LENGTH_SIGNAL_FROM) / (LENGTH_SIGNAL_FULL - LENGTH_SIGNAL_FROM));
  return {
    score,
    flagged: score >= SIGNAL_FLAG_THRESHOLD,
    evidence: score > 0 ? [`prompt_tokens:${promptTokens}`] : [],
  };
}

function estimateOutput(signals: Readonly<Record<SignalKind, Signal>>, lastUser: string, all: string): number {
  const anySignal = signals.code.score > 0 || signals.math.score > 0 || signals.multiStep.score > 0;
  const longForm = LONG_FORM.test(all);
  // about four characters a token: a short last turn with nothing in it is chit-chat
  if (!anySignal && !longForm && lastUser.length <= 160) return CHAT_OUTPUT_TOKENS;
  const estimate =
    BASE_OUTPUT_TOKENS +
    512 * signals.code.score +
    256 * signals.math.score +
    256 * signals.multiStep.score +
    (longForm ? 256 : 0);
  return Math.min(MAX_ESTIMATED_OUTPUT_TOKENS, Math.round(estimate));
}

function hintNeed(hint: QualityHint | undefined): number | null {
  if (hint === undefined) return null;
  if (typeof hint === "number") return Number.isFinite(hint) ? clamp01(hint) : null;
  return HINT_NEEDS[hint];
}

class Accumulator {
  private score = 0;
  private readonly evidence: string[] = [];

  add(label: string, weight: number): void {
    this.evidence.push(label);
    this.score += weight;
  }

  addDetectors(detectors: readonly Detector[], text: string, prefix: string): void {
    for (const d of detectors) if (d.pattern.test(text)) this.add(prefix + d.label, d.weight);
  }

  /** Each distinct keyword counts once. */
  addWords(pattern: RegExp, text: string, weight: number): void {
    const words = new Set((text.match(pattern) ?? []).map((w) => w.toLowerCase()));
    for (const w of [...words].sort()) this.add(`keyword:${w}`, weight);
  }

  signal(): Signal {
    const score = clamp01(this.score);
    return { score, flagged: score >= SIGNAL_FLAG_THRESHOLD, evidence: this.evidence };
  }
}

function clamp01(x: number): number {
  return Number.isNaN(x) ? 0 : Math.min(1, Math.max(0, x));
}

function wholeNonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.floor(x) : 0;
}
