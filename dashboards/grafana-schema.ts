/**
 * Grafana's own dashboard schema, offline: `@grafana/schema` ships the TypeScript that Grafana
 * generates from its CUE dashboard kind (`raw/dashboard/x/types.gen`); ts-json-schema-generator
 * turns its `Dashboard` into a JSON Schema and ajv checks a dashboard against it. Unknown properties
 * are refused everywhere (a renamed or misspelt field is the failure mode this catches), except the
 * few the CUE kind leaves open and the TypeScript does not list (`OPEN_FIELDS`).
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { createGenerator } from "ts-json-schema-generator";

/**
 * Fields of the v1 dashboard JSON that Grafana itself writes and reads but `types.gen` omits because
 * the CUE definition is open there: interval variables' `auto`, `auto_min`, `auto_count`, and query
 * variables' `definition` (the query as the editor shows it). The foundation SDK emits them.
 */
const OPEN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  VariableModel: ["auto", "auto_min", "auto_count", "definition"],
};

interface JsonSchema {
  definitions?: Record<string, { properties?: Record<string, unknown> }>;
}

/** The installed @grafana/schema's version, so a report says which schema it checked against. */
export function grafanaSchemaVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("@grafana/schema/package.json") as { version: string }).version;
}

function typesFile(): string {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve("@grafana/schema/package.json"));
  return join(root, "dist/types/raw/dashboard/x/types.gen.d.ts");
}

/** The JSON Schema of Grafana's `Dashboard` (takes a few seconds: it reads the type graph). */
export function dashboardJsonSchema(): JsonSchema {
  const schema = createGenerator({
    path: typesFile(),
    type: "Dashboard",
    skipTypeCheck: true,
    additionalProperties: false,
    expose: "all",
  }).createSchema("Dashboard") as JsonSchema;
  for (const [definition, fields] of Object.entries(OPEN_FIELDS)) {
    const properties = schema.definitions?.[definition]?.properties;
    if (!properties) throw new Error(`@grafana/schema has no ${definition} any more: revisit OPEN_FIELDS`);
    for (const field of fields) properties[field] = {};
  }
  return schema;
}

/** A validator: the dashboard's schema errors as `path: message` lines, none when it conforms. */
export function dashboardValidator(schema: JsonSchema = dashboardJsonSchema()): (dashboard: unknown) => string[] {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  const describe = (e: ErrorObject) =>
    `${e.instancePath || "/"}: ${e.message ?? e.keyword}${e.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : ""}`;
  return (dashboard) => (validate(dashboard) ? [] : [...new Set((validate.errors ?? []).map(describe))]);
}
