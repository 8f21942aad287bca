/**
 * `tritgate usage [--tenant ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--group-by tenant|variant|day]`:
 * the usage and cost report of `GET /admin/usage`, read from the database directly (Postgres at
 * `DATABASE_URL`, else PGlite in the state directory), as a table or `--json`.
 */
import { loadConfig, resolveStateDir } from "../../config/index.js";
import type { UsageFigures, UsageGroupBy, UsageReport } from "../../db/index.js";
import { reportBody } from "../../server/routes/report-params.js";
import { type Command, parseCommandLine } from "../command.js";

const USAGE = `usage: tritgate usage [options]
options:
  --tenant ID            one tenant's usage (default: every tenant's)
  --from YYYY-MM-DD      first UTC day included (default: 29 days before --to)
  --to YYYY-MM-DD        last UTC day included (default: today, or 29 days after --from)
  --group-by G           tenant (default without --tenant), variant (default with it) or day
  --json                 the report as JSON, as GET /admin/usage answers it
  --database-url URL     Postgres to read (default: $DATABASE_URL; unset: PGlite in the state directory,
                         which only one process may open: stop \`tritgate serve\` first, or use the admin API)
  --config FILE          gateway config (default: $TRITGATE_CONFIG, ./tritgate.yaml, else the built-in defaults)
  --state-dir DIR        where PGlite lives (default: $TRITGATE_STATE_DIR, else the config's server.stateDir)`;

const GROUPS: readonly UsageGroupBy[] = ["tenant", "variant", "day"];

function keyOf(report: UsageReport<UsageGroupBy>, group: UsageReport<UsageGroupBy>["groups"][number]): string {
  const g = group as { tenantId?: string; variant?: string | null; day?: string };
  if (report.groupBy === "tenant") return g.tenantId ?? "";
  if (report.groupBy === "day") return g.day ?? "";
  return g.variant ?? "(none)";
}

const money = (n: number) => n.toFixed(6);
const percent = (r: number | null) => (r === null ? "-" : `${(r * 100).toFixed(1)}%`);

export function usageTable(report: UsageReport<UsageGroupBy>): string {
  const header = [
    report.groupBy,
    "requests",
    "errors",
    "sla_misses",
    "tokens_in",
    "tokens_out",
    "cost",
    "fp32_cost",
    "savings",
    "saved",
  ];
  const row = (key: string, f: UsageFigures) => [
    key,
    String(f.requests),
    String(f.errors),
    String(f.slaMisses),
    String(f.tokensIn),
    String(f.tokensOut),
    money(f.cost),
    money(f.counterfactualCost),
    money(f.savings),
    percent(f.savingsRatio),
  ];
  const rows = [header, ...report.groups.map((g) => row(keyOf(report, g), g)), row("total", report.totals)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  const title = `usage ${report.range.from} .. ${report.range.to} (UTC days, inclusive)${report.tenantId === null ? "" : `, tenant ${report.tenantId}`}`;
  return [title, line(header), ...rows.slice(1, -1).map(line), line(rows[rows.length - 1] as string[])].join("\n");
}

export const usageCommand: Command = {
  name: "usage",
  summary: "usage and cost per tenant, variant or day over a range of UTC days, from the database",
  async run(args) {
    const cli = parseCommandLine("usage", USAGE, args, {
      tenant: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      "group-by": { type: "string" },
      json: { type: "boolean" },
      "database-url": { type: "string" },
      config: { type: "string" },
      "state-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (typeof cli === "number") return cli;
    const { values } = cli;
    const tenantId = values.tenant as string | undefined;
    const groupBy = (values["group-by"] as string | undefined) ?? (tenantId === undefined ? "tenant" : "variant");
    if (!(GROUPS as readonly string[]).includes(groupBy)) {
      console.error(`tritgate usage: --group-by must be one of ${GROUPS.join(", ")}`);
      return 2;
    }
    const { createReports, openDatabase, parseDayRange } = await import("../../db/index.js");
    const range = parseDayRange(values.from as string | undefined, values.to as string | undefined, Date.now());
    if (!range.ok) {
      console.error(`tritgate usage: --${range.param}: ${range.message}`);
      return 2;
    }
    try {
      const config = loadConfig(values.config as string | undefined);
      const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
      const url = (values["database-url"] as string | undefined) ?? process.env.DATABASE_URL;
      const database = await openDatabase({ url, stateDir });
      try {
        const report = await createReports(database).usage({
          range: range.range,
          tenantId,
          groupBy: groupBy as UsageGroupBy,
        });
        console.log(values.json === true ? JSON.stringify(reportBody(report), null, 2) : usageTable(report));
      } finally {
        await database.close();
      }
      return 0;
    } catch (e) {
      console.error(`tritgate usage: ${(e as Error).message}`);
      return 1;
    }
  },
};
