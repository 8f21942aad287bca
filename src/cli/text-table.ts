/** Rows as left-aligned columns under upper-cased headers, two spaces apart (what `tritgate keys` and `variants` print). */
export function textTable(headers: readonly string[], cells: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join("\n");
}
