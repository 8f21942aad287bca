/**
 * Reading the config file (YAML or JSON — YAML's parser reads both) into a `GatewayConfig`.
 * Every mistake is reported as `file:line:column: path: message`, the position found by walking the
 * YAML document along the zod issue's path.
 */
import { isAbsolute, resolve } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";
import { CROSS, configFileSchema, type GatewayConfig, gatewayConfigSchema, RENAMED_KEYS } from "./schema.js";

export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** e.g. `tiers[1].ttftSlaMs`; empty for the document itself */
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

export interface ParseOptions {
  /** Relative `path`s and `server.stateDir` are resolved against this directory (kept as written when absent). */
  readonly baseDir?: string;
}

type Segment = string | number;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function show(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(
        cur + 1,
        (row[j - 1] ?? 0) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/** The schema's known keys for an object at `path` (for "did you mean"). */
function knownKeys(path: readonly Segment[]): string[] {
  let schema: unknown = configFileSchema;
  for (const seg of path) {
    schema = unwrap(schema);
    const def = (schema as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def;
    if (def?.type === "object" && typeof seg === "string") schema = def.shape?.[seg];
    else if (def?.type === "array" && typeof seg === "number") schema = def.element;
    else return [];
  }
  const def = (unwrap(schema) as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === "object" ? Object.keys(def.shape ?? {}) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { type?: string; innerType?: unknown; in?: unknown; options?: unknown[] } } | undefined;
  for (let i = 0; i < 10 && s?.def; i++) {
    const t = s.def.type;
    if (t === "default" || t === "prefault" || t === "optional" || t === "nullable") s = s.def.innerType as typeof s;
    else if (t === "pipe") s = s.def.in as typeof s;
    else if (t === "union") s = (s.def.options ?? []).find((o) => (o as typeof s)?.def?.type === "array") as typeof s;
    else break;
  }
  return s;
}

interface Located {
  readonly offset: number;
}

/**
 * The source position for a path: the key of the last mapping entry reached (so `ttftSlaMs: fast` points
 * at `ttftSlaMs`), a list item itself, or — when the path leaves the document (a missing key) — the
 * deepest node that exists. With `key`, the entry named `key` inside the node at `path`.
 */
function locate(root: Node | null, path: readonly Segment[], key?: string): Located {
  let node: unknown = root;
  let offset = (root?.range?.[0] as number | undefined) ?? 0;
  const segments = key === undefined ? path : [...path, key];
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      offset = keyNode.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return { offset };
}

interface PlainIssue {
  readonly path: Segment[];
  readonly message: string;
  readonly key?: string;
}

/**
 * A loose mapping (a variant's card) keeps unknown keys, so an old spelling of a missing key would go
 * unmentioned: it is named where the key is missed.
 */
function oldSpelling(data: unknown, path: readonly Segment[]): string {
  const parent = valueAt(data, path.slice(0, -1));
  if (typeof parent !== "object" || parent === null) return "";
  const renamed = `renamed "${String(path.at(-1))}"`;
  const old = Object.keys(RENAMED_KEYS).find((key) => RENAMED_KEYS[key] === renamed && key in parent);
  return old === undefined ? "" : ` (written "${old}": ${renamed})`;
}

/** One zod issue as readable messages (several for several unknown keys). */
function describe(issue: z.core.$ZodIssue, data: unknown, base: Segment[] = []): PlainIssue[] {
  const path = [...base, ...(issue.path.filter((p) => typeof p !== "symbol") as Segment[])];
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(path);
    return issue.keys.map((key) => {
      const close = known
        .map((k) => ({ k, d: editDistance(key, k) }))
        .filter((c) => c.d <= Math.max(2, Math.floor(key.length / 3)))
        .sort((a, b) => a.d - b.d)[0];
      const renamed = RENAMED_KEYS[key];
      const hint = renamed
        ? ` (${renamed})`
        : close
          ? ` (did you mean "${close.k}"?)`
          : known.length
            ? ` (expected one of: ${known.join(", ")})`
            : "";
      return { path, key, message: `unknown key "${key}"${hint}` };
    });
  }
  if (issue.code === "invalid_union") {
    // prefer the branch that got furthest into the value (e.g. a bad item in a list) over "expected A or B"
    const deeper = issue.errors.find((branch) => branch.some((i) => i.path.length > 0));
    if (deeper) return deeper.flatMap((i) => describe(i, data, path));
  }
  if (issue.code === "custom" && issue.params?.reference === CROSS.reference) return [{ path, message: issue.message }];
  const value = valueAt(data, path);
  if (value === undefined && issue.code !== "custom")
    return [{ path, message: `required: ${issue.message}${oldSpelling(data, path)}` }];
  if (path.length === 0 && value === null) return [{ path, message: `${issue.message} (the file is empty)` }];
  if (issue.code === "custom" && !issue.message.startsWith("expected")) return [{ path, message: issue.message }];
  if (issue.code === "too_small" && Array.isArray(value)) return [{ path, message: `${issue.message}, got none` }];
  return [{ path, message: `${issue.message}, got ${show(value)}` }];
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Parses and validates config text; throws `ConfigError` listing every mistake with its position. */
export function parseConfig(text: string, fileName: string, options: ParseOptions = {}): GatewayConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { keepSourceTokens: true, lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        file: fileName,
        ...at(e.pos[0]),
        path: "",
        message: `${fileName.endsWith(".json") ? "JSON" : "YAML"} syntax: ${e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "")}`,
      })),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const toIssue = (p: PlainIssue): ConfigIssue => ({
    file: fileName,
    ...at(locate(doc.contents, p.path, p.key).offset),
    path: formatPath(p.path),
    message: p.message,
  });
  const parsed = gatewayConfigSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(sortIssues(parsed.error.issues.flatMap((i) => describe(i, data)).map(toIssue)));
  }
  const config = parsed.data;
  const baseDir = options.baseDir;
  const resolvePath = (p: string) => (baseDir === undefined || isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...config,
    source: fileName,
    server: { ...config.server, stateDir: resolvePath(config.server.stateDir) },
    variants: config.variants.map((v) => ({ ...v, path: resolvePath(v.path) })),
  };
}
