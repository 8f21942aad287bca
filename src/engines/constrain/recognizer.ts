/**
 * An incremental recognizer for a grammar (grammar.ts): a pushdown automaton over UTF-8 bytes. A state
 * is a list of configurations (several only while a union has not yet decided between its options),
 * each an immutable linked stack of frames, so advancing never copies a stack and a state can be kept
 * as cheaply as a pointer: the token mask walks a vocabulary trie from one state down many branches.
 *
 * Whitespace is bounded, as llama.cpp's JSON grammar bounds it, so a model cannot loop on blanks: a run
 * is one space, or one newline followed by at most 4 spaces or tabs per open container (20 at most; one
 * level less before a closing bracket), and there is none before a colon or a comma. Numbers take at
 * most 21 integer digits, 24 fraction digits and 3 exponent digits. No whitespace before or after the
 * top-level value: once it is complete the output is complete.
 */
import {
  ANY_ARRAY,
  ANY_OBJECT,
  ANY_STRING,
  type ArrayRule,
  type GrammarNode,
  KEYWORDS,
  type ObjectRule,
  type StringRule,
} from "./grammar.js";
import { utf8Lead } from "./utf8.js";

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

export const MAX_INDENT = 20;
// enough for every double as JSON.stringify writes it (plain notation up to 1e21, 17 significant digits)
const MAX_INT_DIGITS = 21;
const MAX_FRACTION_DIGITS = 24;
const MAX_EXPONENT_DIGITS = 3;

/**
 * Whitespace run so far at a point that allows it: 0 none, 1 a single space (nothing more), 2 + k a newline
 * and k indent characters. NO_WS marks points that allow none.
 */
type Ws = number;
const NO_WS = -1;

/** `depth`: containers open at this point, which bounds the indent (4 per level, as wide as pretty printers go). */
function nextWs(ws: Ws, b: number, depth: number): Ws {
  if (ws === 0) return b === SPACE ? 1 : b === NEWLINE ? 2 : NO_WS;
  if (ws >= 2 && (b === SPACE || b === TAB) && ws < 2 + Math.min(MAX_INDENT, 4 * depth)) return ws + 1;
  return NO_WS;
}

function containers(s: Stack | null): number {
  let n = 0;
  for (let at = s; at !== null; at = at.below) if (at.top.t === "object" || at.top.t === "array") n++;
  return n;
}

const isWs = (b: number) => b === SPACE || b === NEWLINE || b === TAB || b === 0x0d;
const isDigit = (b: number) => b >= ZERO && b <= NINE;

type ObjectPhase = "open" | "key" | "colon" | "value" | "after" | "comma";
type ArrayPhase = "open" | "value" | "after" | "comma";
type NumberPhase = "minus" | "zero" | "int" | "dot" | "fraction" | "e" | "sign" | "exponent";

type Frame =
  /** before a value */
  | { readonly t: "value"; readonly node: GrammarNode; readonly ws: Ws }
  /** `next`: how many declared properties are behind (or may no longer come) */
  | {
      readonly t: "object";
      readonly rule: ObjectRule;
      readonly phase: ObjectPhase;
      readonly next: number;
      readonly ws: Ws;
    }
  | {
      readonly t: "array";
      readonly rule: ArrayRule;
      readonly phase: ArrayPhase;
      readonly count: number;
      readonly ws: Ws;
    }
  /**
   * inside a string: after a backslash, hex digits of \u still due, UTF-8 continuation bytes still due and
   * the next one's range; characters so far when the string is bounded (`rule` null: unbounded)
   */
  | {
      readonly t: "string";
      readonly rule: StringRule | null;
      readonly len: number;
      readonly escape: boolean;
      readonly hex: number;
      readonly need: number;
      readonly lo: number;
      readonly hi: number;
    }
  /** matching exact texts: `alive` indexes the options still matching the first `pos` bytes */
  | {
      readonly t: "literal";
      readonly options: readonly Uint8Array[];
      readonly alive: readonly number[];
      readonly pos: number;
    }
  | { readonly t: "number"; readonly phase: NumberPhase; readonly digits: number; readonly integer: boolean }
  | { readonly t: "text" };

interface Stack {
  readonly top: Frame;
  readonly below: Stack | null;
}

/** The top-level value is complete. */
const DONE: Stack = { top: { t: "text" }, below: null };

/** A recognizer state: never empty (a dead end is `null` from `advance`). */
export type RecognizerState = readonly Stack[];

export function initialState(root: GrammarNode): RecognizerState {
  return [{ top: { t: "value", node: root, ws: NO_WS }, below: null }];
}

/**
 * Undecided unions nested in one another multiply configurations (two array options, each with two array
 * items, … doubles per `[`). Beyond this many the rest are dropped: every configuration left still leads to
 * a valid output (no prefix is a dead end), so the output stays valid, only fewer outputs stay possible.
 */
export const MAX_CONFIGURATIONS = 64;

/** The state after one more byte, or null when no output could continue so. */
export function advance(state: RecognizerState, byte: number): RecognizerState | null {
  const out: Stack[] = [];
  for (const s of state) if (s !== DONE) step(s, byte, out);
  if (out.length > MAX_CONFIGURATIONS) out.length = MAX_CONFIGURATIONS;
  return out.length === 0 ? null : out;
}

export function advanceBytes(state: RecognizerState, bytes: Uint8Array): RecognizerState | null {
  let s: RecognizerState | null = state;
  for (let i = 0; i < bytes.length && s !== null; i++) s = advance(s, bytes[i]!);
  return s;
}

/** The output so far is a complete value (end-of-sequence may come now). */
export function isAccepting(state: RecognizerState): boolean {
  return state.some(
    (s) =>
      s === DONE || (s.below === null && (s.top.t === "text" || (s.top.t === "number" && numberMayEnd(s.top.phase)))),
  );
}

/** Complete, and nothing may follow. */
export function isClosed(state: RecognizerState): boolean {
  return state.every((s) => s === DONE);
}

/**
 * Inside a string at a character boundary: how many more characters it may take (Infinity when
 * unbounded), else -1. There, a byte string of complete characters without a quote, backslash or
 * control byte only counts characters: the token mask's fast path allows such tokens by their
 * length without walking them.
 */
export function plainStringRoom(state: RecognizerState): number {
  if (state.length !== 1) return -1;
  const f = state[0]!.top;
  if (f.t !== "string" || f.escape || f.hex !== 0 || f.need !== 0) return -1;
  return f.rule === null ? Number.POSITIVE_INFINITY : f.rule.maxLength - f.len;
}

function step(s: Stack, b: number, out: Stack[]): void {
  const f = s.top;
  switch (f.t) {
    case "value":
      stepValue(f.node, f.ws, s.below, b, out);
      return;
    case "object":
      stepObject(f, s.below, b, out);
      return;
    case "array":
      stepArray(f, s.below, b, out);
      return;
    case "string":
      stepString(s, f, b, out);
      return;
    case "literal":
      stepLiteral(f.options, f.alive, f.pos, s.below, b, out);
      return;
    case "number":
      stepNumber(f, s.below, b, out);
      return;
    case "text":
      out.push(s);
      return;
  }
}

function stepValue(node: GrammarNode, ws: Ws, below: Stack | null, b: number, out: Stack[]): void {
  if (ws !== NO_WS && isWs(b)) {
    const next = nextWs(ws, b, containers(below));
    if (next !== NO_WS) out.push({ top: { t: "value", node, ws: next }, below });
    return;
  }
  switch (node.kind) {
    case "ref":
      stepValue(node.resolve(), NO_WS, below, b, out);
      return;
    case "union":
      for (const option of node.options) stepValue(option, NO_WS, below, b, out);
      return;
    case "any":
      if (b === LBRACE) {
        stepValue(ANY_OBJECT, NO_WS, below, b, out);
        return;
      }
      if (b === LBRACKET) {
        stepValue(ANY_ARRAY, NO_WS, below, b, out);
        return;
      }
      if (b === QUOTE) {
        stepValue(ANY_STRING, NO_WS, below, b, out);
        return;
      }
      if (b === MINUS || isDigit(b)) {
        startNumber(false, below, b, out);
        return;
      }
      stepValue(KEYWORDS, NO_WS, below, b, out);
      return;
    case "object":
      if (b === LBRACE) out.push({ top: { t: "object", rule: node, phase: "open", next: 0, ws: 0 }, below });
      return;
    case "array":
      if (b === LBRACKET) out.push({ top: { t: "array", rule: node, phase: "open", count: 0, ws: 0 }, below });
      return;
    case "string":
      if (b !== QUOTE) return;
      if (node.minLength === 0 && node.maxLength === Number.POSITIVE_INFINITY) out.push({ top: FREE_STRING, below });
      else out.push({ top: { ...FREE_STRING, rule: node, len: 0 }, below });
      return;
    case "number":
      startNumber(node.integer, below, b, out);
      return;
    case "literal":
      stepLiteral(node.options, allIndices(node.options.length), 0, below, b, out);
      return;
    case "text":
      if (!node.exclude.includes(b)) out.push({ top: TEXT, below });
      return;
  }
}

const FREE_STRING: StringFrame = { t: "string", rule: null, len: 0, escape: false, hex: 0, need: 0, lo: 0, hi: 0 };
const TEXT: Frame = { t: "text" };

const indexCache: number[][] = [];
function allIndices(n: number): readonly number[] {
  let list = indexCache[n];
  if (!list) {
    list = Array.from({ length: n }, (_, i) => i);
    if (n < 64) indexCache[n] = list;
  }
  return list;
}

/** A value below `below` is complete: its container moves on (`result`: which key of keyChoices matched). */
function resume(below: Stack | null, result: number, out: Stack[]): void {
  if (below === null) {
    out.push(DONE);
    return;
  }
  const f = below.top;
  if (f.t === "object") {
    if (f.phase === "key") {
      const next = f.rule.properties.length > 0 ? f.next + result + 1 : f.next;
      out.push({ top: { ...f, phase: "colon", next, ws: 0 }, below: below.below });
    } else {
      out.push({ top: { ...f, phase: "after", ws: 0 }, below: below.below });
    }
  } else if (f.t === "array") {
    out.push({ top: { ...f, phase: "after", count: f.count + 1, ws: 0 }, below: below.below });
  }
}

type ObjectFrame = Extract<Frame, { t: "object" }>;
type ArrayFrame = Extract<Frame, { t: "array" }>;
type StringFrame = Extract<Frame, { t: "string" }>;
type NumberFrame = Extract<Frame, { t: "number" }>;

function stepObject(f: ObjectFrame, below: Stack | null, b: number, out: Stack[]): void {
  const { rule, phase } = f;
  if (isWs(b)) {
    // none before a colon or a comma (pretty printers write none there): a run there only wastes tokens;
    // so after a value only where the closing brace may come, or the prefix would have no continuation
    if (phase === "key" || phase === "value" || phase === "colon") return;
    if (phase === "after" && rule.properties.length > 0 && !rule.closable[f.next]!) return;
    // a closing brace is indented one level less than the object's content
    const ws = nextWs(f.ws, b, (phase === "after" ? 0 : 1) + containers(below));
    if (ws !== NO_WS) out.push({ top: { ...f, ws }, below });
    return;
  }
  const declared = rule.properties.length > 0;
  switch (phase) {
    case "open":
    case "comma":
      if (b === RBRACE && phase === "open" && (declared ? rule.closable[0]! : true)) {
        resume(below, 0, out);
        return;
      }
      if (b !== QUOTE) return;
      if (declared) {
        const keys = rule.keyChoices[f.next]!;
        const holder: Stack = { top: { ...f, phase: "key", ws: 0 }, below };
        stepLiteral(keys, allIndices(keys.length), 0, holder, b, out);
        return;
      }
      if (rule.values === null) return;
      out.push({ top: FREE_STRING, below: { top: { ...f, phase: "key", ws: 0 }, below } });
      return;
    case "colon":
      if (b !== COLON) return;
      {
        const value = declared ? rule.properties[f.next - 1]!.value : rule.values!;
        out.push({ top: { t: "value", node: value, ws: 0 }, below: { top: { ...f, phase: "value", ws: 0 }, below } });
      }
      return;
    case "after":
      if (b === RBRACE && (declared ? rule.closable[f.next]! : true)) {
        resume(below, 0, out);
        return;
      }
      if (b === COMMA && f.ws === 0 && (declared ? rule.keyChoices[f.next]!.length > 0 : true)) {
        out.push({ top: { ...f, phase: "comma", ws: 0 }, below });
      }
      return;
    default:
      return;
  }
}

function stepArray(f: ArrayFrame, below: Stack | null, b: number, out: Stack[]): void {
  const { rule, phase } = f;
  if (isWs(b)) {
    if (phase === "value" || (phase === "after" && f.count < rule.minItems)) return;
    const ws = nextWs(f.ws, b, (phase === "after" ? 0 : 1) + containers(below));
    if (ws !== NO_WS) out.push({ top: { ...f, ws }, below });
    return;
  }
  switch (phase) {
    case "open":
      if (b === RBRACKET) {
        if (rule.minItems === 0) resume(below, 0, out);
        return;
      }
      if (rule.maxItems === 0) return;
      stepValue(rule.items, NO_WS, { top: { ...f, phase: "value", ws: 0 }, below }, b, out);
      return;
    case "comma":
      stepValue(rule.items, NO_WS, { top: { ...f, phase: "value", ws: 0 }, below }, b, out);
      return;
    case "after":
      if (b === RBRACKET && f.count >= rule.minItems) {
        resume(below, 0, out);
        return;
      }
      if (b === COMMA && f.ws === 0 && f.count < rule.maxItems)
        out.push({ top: { ...f, phase: "comma", ws: 0 }, below });
      return;
    default:
      return;
  }
}

const ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]); // " \ / b f n r t
const U = 0x75;

function isHex(b: number): boolean {
  return isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

function stepString(s: Stack, f: StringFrame, b: number, out: Stack[]): void {
  const below = s.below;
  if (f.need > 0) {
    if (b >= f.lo && b <= f.hi) out.push({ top: { ...f, need: f.need - 1, lo: 0x80, hi: 0xbf }, below });
    return;
  }
  if (f.hex > 0) {
    if (isHex(b)) out.push({ top: { ...f, hex: f.hex - 1 }, below });
    return;
  }
  if (f.escape) {
    if (ESCAPES.has(b)) out.push({ top: { ...f, escape: false }, below });
    else if (b === U && f.rule === null) out.push({ top: { ...f, escape: false, hex: 4 }, below });
    return;
  }
  if (b === QUOTE) {
    if (f.rule === null || f.len >= f.rule.minLength) resume(below, 0, out);
    return;
  }
  if (b < 0x20) return;
  // every other byte here starts a character
  if (f.rule !== null && f.len >= f.rule.maxLength) return;
  const len = f.rule === null ? 0 : f.len + 1;
  if (b === BACKSLASH) {
    out.push({ top: { ...f, escape: true, len }, below });
    return;
  }
  if (b < 0x80) {
    out.push(f.rule === null ? s : { top: { ...f, len }, below });
    return;
  }
  const lead = utf8Lead(b);
  if (lead === undefined) return;
  out.push({ top: { ...f, len, need: lead.need, lo: lead.lo, hi: lead.hi }, below });
}

function stepLiteral(
  options: readonly Uint8Array[],
  alive: readonly number[],
  pos: number,
  below: Stack | null,
  b: number,
  out: Stack[],
): void {
  const still: number[] = [];
  let longer = false;
  for (const i of alive) {
    const option = options[i]!;
    if (option[pos] !== b) continue;
    if (option.length === pos + 1) resume(below, i, out);
    else {
      still.push(i);
      longer = true;
    }
  }
  if (longer) out.push({ top: { t: "literal", options, alive: still, pos: pos + 1 }, below });
}

function startNumber(integer: boolean, below: Stack | null, b: number, out: Stack[]): void {
  if (b === MINUS) out.push({ top: { t: "number", phase: "minus", digits: 0, integer }, below });
  else if (b === ZERO) out.push({ top: { t: "number", phase: "zero", digits: 1, integer }, below });
  else if (isDigit(b)) out.push({ top: { t: "number", phase: "int", digits: 1, integer }, below });
}

function numberMayEnd(phase: NumberPhase): boolean {
  return phase === "zero" || phase === "int" || phase === "fraction" || phase === "exponent";
}

function stepNumber(f: NumberFrame, below: Stack | null, b: number, out: Stack[]): void {
  const to = (phase: NumberPhase, digits: number): void => {
    out.push({ top: { ...f, phase, digits }, below });
  };
  const digit = isDigit(b);
  switch (f.phase) {
    case "minus":
      if (b === ZERO) {
        to("zero", 1);
        return;
      }
      if (digit) {
        to("int", 1);
        return;
      }
      return;
    case "zero":
    case "int":
      if (digit && f.phase === "int") {
        if (f.digits < MAX_INT_DIGITS) to("int", f.digits + 1);
        return;
      }
      if (!f.integer && b === DOT) {
        to("dot", 0);
        return;
      }
      if (!f.integer && (b === 0x65 || b === 0x45)) {
        to("e", 0);
        return;
      }
      break;
    case "dot":
      if (digit) to("fraction", 1);
      return;
    case "fraction":
      if (digit) {
        if (f.digits < MAX_FRACTION_DIGITS) to("fraction", f.digits + 1);
        return;
      }
      if (b === 0x65 || b === 0x45) {
        to("e", 0);
        return;
      }
      break;
    case "e":
      if (b === PLUS || b === MINUS) {
        to("sign", 0);
        return;
      }
      if (digit) to("exponent", 1);
      return;
    case "sign":
      if (digit) to("exponent", 1);
      return;
    case "exponent":
      if (digit) {
        if (f.digits < MAX_EXPONENT_DIGITS) to("exponent", f.digits + 1);
        return;
      }
      break;
  }
  if (digit) return; // "0" followed by a digit
  // the number ended before b: b belongs to the container
  const after: Stack[] = [];
  resume(below, 0, after);
  for (const s of after) if (s !== DONE) step(s, b, out);
}
