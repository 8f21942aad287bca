/**
 * The language a constrained generation may write, as a tree of value rules. Compiled from a JSON
 * Schema (schema.ts) or built for tool calls (spec.ts); walked byte by byte by the recognizer.
 * Literal texts and object keys are held as UTF-8 bytes, since tokens are matched as bytes.
 */

export type GrammarNode =
  /** any JSON value */
  | { readonly kind: "any" }
  | ObjectRule
  | ArrayRule
  /** a JSON string; bounded ones (min/max characters) do not use \u escapes */
  | StringRule
  | { readonly kind: "number"; readonly integer: boolean }
  /** one of these exact JSON texts (enum, const, true/false/null) */
  | { readonly kind: "literal"; readonly options: readonly Uint8Array[] }
  | { readonly kind: "union"; readonly options: readonly GrammarNode[] }
  /** free text whose first byte is none of `exclude`, ended only by end-of-sequence (tool_choice "auto") */
  | { readonly kind: "text"; readonly exclude: readonly number[] }
  /** a `$ref` into the schema's definitions, resolved when reached so recursive schemas stay finite */
  | { readonly kind: "ref"; readonly resolve: () => GrammarNode };

export interface PropertyRule {
  /** the key's JSON text, quotes included */
  readonly key: Uint8Array;
  readonly value: GrammarNode;
  readonly required: boolean;
}

/**
 * Declared properties are written in declared order; an optional one may be left out. With no declared
 * properties, `values` (when not null) allows any keys whose values follow it.
 */
export interface ObjectRule {
  readonly kind: "object";
  readonly properties: readonly PropertyRule[];
  readonly values: GrammarNode | null;
  /** keyChoices[next]: the keys that may come when properties [0, next) are behind (a required one ends the range) */
  readonly keyChoices: readonly (readonly Uint8Array[])[];
  /** closable[next]: no required property at or after `next` */
  readonly closable: readonly boolean[];
}

export interface StringRule {
  readonly kind: "string";
  readonly minLength: number;
  readonly maxLength: number;
}

export const ANY_STRING: StringRule = { kind: "string", minLength: 0, maxLength: Number.POSITIVE_INFINITY };

export interface ArrayRule {
  readonly kind: "array";
  readonly items: GrammarNode;
  readonly minItems: number;
  readonly maxItems: number;
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of a value's compact JSON text. */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function objectRule(properties: readonly PropertyRule[], values: GrammarNode | null): ObjectRule {
  const keyChoices: Uint8Array[][] = [];
  const closable: boolean[] = [];
  for (let next = 0; next <= properties.length; next++) {
    const keys: Uint8Array[] = [];
    for (let j = next; j < properties.length; j++) {
      keys.push(properties[j]!.key);
      if (properties[j]!.required) break;
    }
    keyChoices.push(keys);
    closable.push(properties.slice(next).every((p) => !p.required));
  }
  return { kind: "object", properties, values, keyChoices, closable };
}

export const ANY: GrammarNode = { kind: "any" };
export const ANY_OBJECT: ObjectRule = objectRule([], ANY);
export const ANY_ARRAY: ArrayRule = { kind: "array", items: ANY, minItems: 0, maxItems: Number.POSITIVE_INFINITY };
export const KEYWORDS: GrammarNode = {
  kind: "literal",
  options: [jsonBytes(true), jsonBytes(false), jsonBytes(null)],
};
