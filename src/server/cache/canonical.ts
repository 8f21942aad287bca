/**
 * Canonical JSON: object keys sorted, `undefined` members left out, otherwise `JSON.stringify`. Two
 * values that are equal as JSON get the same text whatever order their keys were written in, so the
 * text can be hashed into a cache key.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const k of Object.keys(record).sort()) {
    const v = record[k];
    if (v !== undefined) members.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${members.join(",")}}`;
}
