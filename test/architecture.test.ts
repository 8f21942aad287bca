/**
 * Imports point one way: every import and re-export in `src/**` and `router/**` (tests included) is
 * parsed with the TypeScript compiler and checked against the rules below — the router imports
 * nothing of ours but types, engines reach only formats and kernels, formats reach no engine, and no
 * testkit pulls in the converter. A failure names the file, the line and the arrow it draws.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");

interface ImportEdge {
  /** the importing file, relative to the repository root */
  readonly from: string;
  readonly line: number;
  /** as written */
  readonly specifier: string;
  /** the imported file or folder, relative to the root; undefined for a package or `node:` module */
  readonly target: string | undefined;
  /** `import type`, `export type`, or every named binding marked `type` (erased from the JavaScript) */
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

function typeOnlyBindings(elements: ts.NodeArray<ts.ImportSpecifier | ts.ExportSpecifier>): boolean {
  return elements.length > 0 && elements.every((e) => e.isTypeOnly);
}

/** Every static import, re-export, `import("…")` and `typeof import("…")` of one file. */
function importsOf(file: string, text: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edges: ImportEdge[] = [];
  const add = (node: ts.Node, specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith(".")
      ? relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.(js|ts|mjs)$/, "")
      : undefined;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    edges.push({ from: file, line, specifier, target, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            typeOnlyBindings(clause.namedBindings.elements)));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause;
      const typeOnly =
        node.isTypeOnly || (clause !== undefined && ts.isNamedExports(clause) && typeOnlyBindings(clause.elements));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node, node.arguments[0].text, false);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node, node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** `router`, `kernels`, `test`, or the folder under `src/` (`engines`, `formats`, `server`, …). */
function layerOf(path: string): string {
  const [top, second] = path.split("/");
  return top === "src" ? (second ?? "src") : (top ?? "");
}

const isTestkit = (path: string) => /(^|\/)testkit\.ts$/.test(path);
const isTest = (path: string) => path.endsWith(".test.ts");

interface Rule {
  readonly name: string;
  readonly applies: (from: string) => boolean;
  /** why the edge is forbidden, or undefined when it is allowed */
  readonly check: (edge: ImportEdge & { readonly target: string }) => string | undefined;
}

const layers = (...names: string[]) => new Set(names);

/** Where each lower layer may point; a layer not listed here is not restricted by this suite. */
const ALLOWED: Readonly<Record<string, ReadonlySet<string>>> = {
  // the engines run models: formats to read them, kernels to compute, util for the odd helper
  engines: layers("engines", "formats", "kernels", "util"),
  // formats read and write files; they know no engine, no server and no conversion
  formats: layers("formats", "kernels", "util"),
};

const RULES: readonly Rule[] = [
  {
    name: "the router imports nothing of ours but types",
    applies: (from) => layerOf(from) === "router",
    check: (edge) =>
      layerOf(edge.target) !== "router" && !edge.typeOnly ? `a value import from ${edge.target}` : undefined,
  },
  ...Object.entries(ALLOWED).map(
    ([layer, allowed]): Rule => ({
      name: `${layer} import only ${[...allowed].join(", ")}`,
      applies: (from) => layerOf(from) === layer,
      check: (edge) => {
        const to = layerOf(edge.target);
        // a test may use the shared test helpers and references in test/
        if (to === "test" && isTest(edge.from)) return undefined;
        return allowed.has(to) ? undefined : `${layer} → ${to} (${edge.target})`;
      },
    }),
  ),
  {
    name: "testkits do not import src/convert",
    applies: (from) => isTestkit(from) && layerOf(from) !== "convert",
    check: (edge) => (layerOf(edge.target) === "convert" ? `testkit → convert (${edge.target})` : undefined),
  },
];

/** Every forbidden edge, as `file:line: rule: what`. */
function violations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const edge of edges) {
    const { target } = edge;
    if (target === undefined) continue;
    for (const rule of RULES) {
      if (!rule.applies(edge.from)) continue;
      const why = rule.check({ ...edge, target });
      if (why !== undefined) out.push(`${edge.from}:${edge.line}: ${rule.name}: ${why}`);
    }
  }
  return out;
}

describe("import direction", () => {
  const files = [...sourceFiles("src"), ...sourceFiles("router")];
  const edges = files.flatMap((file) => importsOf(file, readFileSync(join(ROOT, file), "utf8")));

  it("parses the imports of every source file", () => {
    expect(files.length).toBeGreaterThan(100);
    const recorder = edges.find((e) => e.from === "src/server/recorder.ts" && e.target === "src/db/schema");
    expect(recorder?.typeOnly).toBe(true);
  });

  it("draws no forbidden arrow", () => {
    expect(violations(edges)).toEqual([]);
  });

  it("tells type imports from value imports and finds each kind of forbidden arrow", () => {
    const sample = (from: string, text: string) => violations(importsOf(from, text));
    expect(sample("router/x.ts", 'import type { A } from "../src/config/schema.js";')).toEqual([]);
    expect(sample("router/x.ts", 'import { type A, type B } from "../src/config/schema.js";')).toEqual([]);
    expect(sample("router/x.ts", 'export type { A } from "../src/config/schema.js";')).toEqual([]);
    expect(sample("router/x.ts", 'import { ok } from "./decide.js"; import fc from "fast-check";')).toEqual([]);
    expect(sample("router/x.ts", 'import { type A, b } from "../src/config/schema.js";')).toHaveLength(1);
    expect(sample("router/x.ts", 'const m = await import("../src/util/half.js");')).toHaveLength(1);
    expect(sample("src/engines/a/x.ts", 'import { f } from "../../formats/gguf/index.js";')).toEqual([]);
    expect(sample("src/engines/a/x.ts", 'import { f } from "../../server/app.js";')).toHaveLength(1);
    expect(sample("src/engines/a/x.ts", 'import type { f } from "../../metrics/index.js";')).toHaveLength(1);
    expect(sample("src/engines/a/x.test.ts", 'import { r } from "../../../test/helpers/random.js";')).toEqual([]);
    expect(sample("src/formats/a/x.ts", 'import { e } from "../../engines/bitnet/index.js";')).toHaveLength(1);
    expect(sample("src/formats/a/x.ts", 'export { c } from "../../convert/index.js";')).toHaveLength(1);
    expect(sample("src/server/testkit.ts", 'import { c } from "../convert/to-onnx.js";')).toHaveLength(1);
    expect(sample("src/convert/testkit.ts", 'import { c } from "./to-onnx.js";')).toEqual([]);
  });
});
