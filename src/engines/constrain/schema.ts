/**
 * JSON Schema → grammar, for the subset constrained decoding supports. Anything that would constrain
 * the output in a way the grammar cannot express is refused with the schema path, never ignored;
 * keywords that only annotate (title, description, default, ...) are accepted.
 *
 * Supported: type (one or a list) object/array/string/number/integer/boolean/null; properties, required,
 * additionalProperties; items, minItems, maxItems; minLength, maxLength (in code points; such strings are
 * written without \u escapes); enum, const; anyOf; $ref to "#/$defs/…" or
 * "#/definitions/…" (recursion allowed). Generated objects write their declared properties in declared
 * order and never add undeclared keys (a subset of what a non-strict schema allows, so the output still
 * validates). With `strict` (OpenAI's strict mode) every object must set additionalProperties: false and
 * list every property in required.
 */
import { SchemaError } from "./errors.js";
import {
  ANY,
  type ArrayRule,
  type GrammarNode,
  jsonBytes,
  objectRule,
  type PropertyRule,
  type StringRule,
} from "./grammar.js";

const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
]);
const STRUCTURAL = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "enum",
  "const",
  "anyOf",
  "$ref",
  "$defs",
  "definitions",
]);
const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);

/** More would only serve a hostile request: a real schema is a few dozen nodes. */
export const MAX_SCHEMA_NODES = 4096;
export const MAX_SCHEMA_DEPTH = 64;
/** An object's key choices grow with the square of its optional properties; a literal's step with its options. */
export const MAX_PROPERTIES = 256;
export const MAX_ENUM = 1024;

export interface SchemaOptions {
  readonly strict: boolean;
  /** where the schema sits in the request, for error paths: "response_format.json_schema.schema" */
  readonly path: string;
}

type Json = Readonly<Record<string, unknown>>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

class Compiler {
  private nodes = 0;
  private readonly defs = new Map<string, { schema: unknown; path: string; node?: GrammarNode }>();

  constructor(
    private readonly root: unknown,
    private readonly options: SchemaOptions,
  ) {}

  run(): GrammarNode {
    if (isObject(this.root)) {
      for (const key of ["$defs", "definitions"]) {
        const defs = this.root[key];
        if (defs === undefined) continue;
        if (!isObject(defs)) throw new SchemaError(`${this.options.path}.${key}`, `'${key}' must be an object`);
        for (const [name, schema] of Object.entries(defs)) {
          this.defs.set(`#/${key}/${name}`, { schema, path: `${this.options.path}.${key}.${name}` });
        }
      }
    }
    const node = this.compile(this.root, this.options.path, 0);
    // compile every definition, so a fault in one the root never reaches is still reported
    for (const def of this.defs.values()) this.definition(def);
    for (const def of this.defs.values()) groundedOrThrow(def.node!, def.path);
    groundedOrThrow(node, this.options.path);
    return node;
  }

  private definition(def: { schema: unknown; path: string; node?: GrammarNode }): GrammarNode {
    if (!def.node) {
      // placeholder first: a definition that refers to itself resolves to the finished node later
      def.node = ANY;
      def.node = this.compile(def.schema, def.path, 1);
    }
    return def.node;
  }

  private compile(schema: unknown, path: string, depth: number): GrammarNode {
    if (++this.nodes > MAX_SCHEMA_NODES) {
      throw new SchemaError(path, `the schema has more than ${MAX_SCHEMA_NODES} subschemas`);
    }
    if (depth > MAX_SCHEMA_DEPTH) throw new SchemaError(path, `the schema nests deeper than ${MAX_SCHEMA_DEPTH}`);
    if (schema === true) return ANY;
    if (!isObject(schema)) throw new SchemaError(path, "a schema must be an object");
    for (const key of Object.keys(schema)) {
      if (!ANNOTATIONS.has(key) && !STRUCTURAL.has(key)) {
        throw new SchemaError(`${path}.${key}`, `'${key}' is not supported in schemas for constrained output`);
      }
    }
    if (depth > 0 && (schema.$defs !== undefined || schema.definitions !== undefined)) {
      throw new SchemaError(path, "'$defs' is supported at the root of the schema only");
    }
    const constraining = Object.keys(schema).filter((k) => STRUCTURAL.has(k) && k !== "$defs" && k !== "definitions");

    if (schema.$ref !== undefined) {
      if (constraining.length > 1) throw new SchemaError(path, "'$ref' cannot be combined with other keywords");
      return this.reference(schema.$ref, `${path}.$ref`);
    }
    if (schema.anyOf !== undefined) {
      if (constraining.length > 1) throw new SchemaError(path, "'anyOf' cannot be combined with other keywords");
      if (!Array.isArray(schema.anyOf) || schema.anyOf.length === 0) {
        throw new SchemaError(`${path}.anyOf`, "'anyOf' must be a non-empty array of schemas");
      }
      return union(schema.anyOf.map((s, i) => this.compile(s, `${path}.anyOf[${i}]`, depth + 1)));
    }
    const types = this.types(schema, path);
    if (schema.const !== undefined || schema.enum !== undefined) return this.literal(schema, types, path);
    const explicit = types ?? inferTypes(schema);
    if (explicit === undefined) return ANY;
    return union(explicit.map((t) => this.typed(t, schema, path, depth)));
  }

  private reference(ref: unknown, path: string): GrammarNode {
    const def = typeof ref === "string" ? this.defs.get(ref) : undefined;
    if (!def) throw new SchemaError(path, `'$ref' must name an entry of the root's $defs, got ${JSON.stringify(ref)}`);
    return { kind: "ref", resolve: () => this.definition(def) };
  }

  private types(schema: Json, path: string): string[] | undefined {
    const t = schema.type;
    if (t === undefined) return undefined;
    const list = typeof t === "string" ? [t] : t;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === "string" && TYPES.has(x))) {
      throw new SchemaError(`${path}.type`, `'type' must be one of ${[...TYPES].join(", ")} or a list of them`);
    }
    return [...new Set(list as string[])];
  }

  private literal(schema: Json, types: string[] | undefined, path: string): GrammarNode {
    const others = Object.keys(schema).filter((k) => STRUCTURAL.has(k) && !["const", "enum", "type"].includes(k));
    if (others.length > 0) {
      throw new SchemaError(`${path}.${others[0]}`, `'${others[0]}' cannot be combined with 'enum' or 'const'`);
    }
    let values: unknown[];
    if (schema.const !== undefined) {
      if (schema.enum !== undefined) throw new SchemaError(path, "use 'enum' or 'const', not both");
      values = [schema.const];
    } else {
      if (!Array.isArray(schema.enum) || schema.enum.length === 0) {
        throw new SchemaError(`${path}.enum`, "'enum' must be a non-empty array");
      }
      values = schema.enum;
    }
    if (values.length > MAX_ENUM) throw new SchemaError(`${path}.enum`, `'enum' has more than ${MAX_ENUM} values`);
    const allowed = types ? values.filter((v) => types.some((t) => hasType(v, t))) : values;
    if (allowed.length === 0) {
      throw new SchemaError(`${path}.enum`, "no value of 'enum'/'const' has the schema's 'type'");
    }
    const texts = new Map<string, Uint8Array>();
    for (const v of allowed) texts.set(JSON.stringify(v), jsonBytes(v));
    return { kind: "literal", options: [...texts.values()] };
  }

  private typed(type: string, schema: Json, path: string, depth: number): GrammarNode {
    switch (type) {
      case "object":
        return this.object(schema, path, depth);
      case "array":
        return this.array(schema, path, depth);
      case "string":
        return this.string(schema, path);
      case "number":
        return { kind: "number", integer: false };
      case "integer":
        return { kind: "number", integer: true };
      case "boolean":
        return { kind: "literal", options: [jsonBytes(true), jsonBytes(false)] };
      default:
        return { kind: "literal", options: [jsonBytes(null)] };
    }
  }

  private object(schema: Json, path: string, depth: number): GrammarNode {
    const props = schema.properties ?? {};
    if (!isObject(props)) throw new SchemaError(`${path}.properties`, "'properties' must be an object");
    const required = schema.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) {
      throw new SchemaError(`${path}.required`, "'required' must be an array of property names");
    }
    for (const name of required) {
      if (!Object.hasOwn(props, name)) {
        throw new SchemaError(`${path}.required`, `required property '${name}' is not in 'properties'`);
      }
    }
    const additional = schema.additionalProperties;
    if (additional !== undefined && typeof additional !== "boolean" && !isObject(additional)) {
      throw new SchemaError(`${path}.additionalProperties`, "'additionalProperties' must be a boolean or a schema");
    }
    const names = Object.keys(props);
    if (names.length > MAX_PROPERTIES) {
      throw new SchemaError(`${path}.properties`, `an object may declare at most ${MAX_PROPERTIES} properties`);
    }
    if (this.options.strict) {
      if (additional !== false) {
        throw new SchemaError(
          `${path}.additionalProperties`,
          "strict schemas must set 'additionalProperties': false on every object",
        );
      }
      const missing = names.find((n) => !required.includes(n));
      if (missing !== undefined) {
        throw new SchemaError(
          `${path}.required`,
          `strict schemas must list every property in 'required'; '${missing}' is missing`,
        );
      }
    }
    const properties: PropertyRule[] = names.map((name) => ({
      key: jsonBytes(name),
      value: this.compile(props[name], `${path}.properties.${name}`, depth + 1),
      required: required.includes(name),
    }));
    let values: GrammarNode | null = null;
    if (names.length === 0 && additional !== false) {
      values =
        additional === undefined || additional === true
          ? ANY
          : this.compile(additional, `${path}.additionalProperties`, depth + 1);
    }
    return objectRule(properties, values);
  }

  private string(schema: Json, path: string): StringRule {
    const minLength = count(schema, "minLength", 0, path);
    const maxLength = count(schema, "maxLength", Number.POSITIVE_INFINITY, path);
    if (minLength > maxLength) throw new SchemaError(`${path}.minLength`, "'minLength' is larger than 'maxLength'");
    return { kind: "string", minLength, maxLength };
  }

  private array(schema: Json, path: string, depth: number): ArrayRule {
    if (Array.isArray(schema.items)) {
      throw new SchemaError(`${path}.items`, "tuple 'items' (an array of schemas) is not supported");
    }
    const items = schema.items === undefined ? ANY : this.compile(schema.items, `${path}.items`, depth + 1);
    const minItems = count(schema, "minItems", 0, path);
    const maxItems = count(schema, "maxItems", Number.POSITIVE_INFINITY, path);
    if (minItems > maxItems) throw new SchemaError(`${path}.minItems`, "'minItems' is larger than 'maxItems'");
    return { kind: "array", items, minItems, maxItems };
  }
}

function count(schema: Json, key: string, fallback: number, path: string): number {
  const v = schema[key];
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 0) {
    throw new SchemaError(`${path}.${key}`, `'${key}' must be a non-negative integer`);
  }
  return v as number;
}

/**
 * A `$ref` cycle through nothing but refs and anyOf (`{"$ref": "#/$defs/a"}` inside `a`) would recurse
 * forever when the recognizer steps it; cycles through an object or array consume a byte first and are fine.
 */
function groundedOrThrow(root: GrammarNode, path: string): void {
  const onPath = new Set<GrammarNode>();
  const visit = (node: GrammarNode): void => {
    if (node.kind !== "ref" && node.kind !== "union") return;
    if (onPath.has(node)) throw new SchemaError(path, "'$ref' refers to itself without writing anything in between");
    onPath.add(node);
    if (node.kind === "ref") visit(node.resolve());
    else for (const option of node.options) visit(option);
    onPath.delete(node);
  };
  visit(root);
}

function inferTypes(schema: Json): string[] | undefined {
  if (schema.properties !== undefined || schema.required !== undefined || schema.additionalProperties !== undefined) {
    return ["object"];
  }
  if (schema.items !== undefined || schema.minItems !== undefined || schema.maxItems !== undefined) return ["array"];
  if (schema.minLength !== undefined || schema.maxLength !== undefined) return ["string"];
  return undefined;
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case "object":
      return isObject(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return Number.isSafeInteger(v);
    case "boolean":
      return typeof v === "boolean";
    default:
      return v === null;
  }
}

function union(options: readonly GrammarNode[]): GrammarNode {
  return options.length === 1 ? options[0]! : { kind: "union", options };
}

/** Throws SchemaError (with the path of the part refused) for what the grammar cannot express. */
export function compileSchema(schema: unknown, options: SchemaOptions): GrammarNode {
  return new Compiler(schema, options).run();
}
