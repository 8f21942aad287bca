/**
 * `npm run loadtest -- --profile smoke|full [--duration SECONDS] [--url URL] [--key KEY | --key TIER=KEY …] [--config FILE] [--database-url URL] [--json FILE]`
 *
 * Runs a profile of `scenarios.ts` open-loop against a gateway, prints the per-tier table and exits 1
 * when a threshold is breached (2 on a usage error). Without `--url` it starts `tritgate serve` itself
 * (see gateway.ts) and stops it afterwards; with one, `--key` names the key to use (one for every tier,
 * or `TIER=KEY` per tier: each must belong to a tenant of that tier).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import { type OwnGateway, startOwnGateway } from "./gateway.js";
import { type LoadReport, type LoadTarget, runLoad } from "./load.js";
import { resolveProfile } from "./resolve.js";
import { PROFILE_NAMES, type ProfileName } from "./scenarios.js";
import { formatTable } from "./summary.js";

const USAGE = `usage: npm run loadtest -- --profile smoke|full [--duration SECONDS] [--url URL --key KEY | --key TIER=KEY ...]
                          [--config FILE] [--database-url URL] [--json FILE]
  --profile NAME   smoke (CI: 30 s of load) or full (the rated load: 180 s of load); start-up and
                   warm-up come on top
  --duration SECONDS
                   seconds of load instead of the profile's, at the profile's rates (a quick end-to-end
                   check of a profile; its table is not the rated result)
  --url URL        a running gateway (default: start tritgate serve on a free loopback port)
  --key KEY        with --url: the API key for every tier, or TIER=KEY for one tier (repeatable)
  --config FILE    the gateway config whose tiers' SLAs are the thresholds (and which the own gateway
                   serves); default: as tritgate serve finds it ($TRITGATE_CONFIG, ./tritgate.yaml, the embedded one)
  --database-url URL
                   without --url: the own gateway records into this PostgreSQL database (default:
                   PGlite in its fresh state dir)
  --json FILE      also write the report as JSON`;

function usageError(message: string): number {
  console.error(`loadtest: ${message}\n\n${USAGE}`);
  return 2;
}

function keysFrom(values: readonly string[]): LoadTarget["keyFor"] {
  const perTier = new Map<string, string>();
  let shared: string | undefined;
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq > 0) perTier.set(value.slice(0, eq), value.slice(eq + 1));
    else shared = value;
  }
  return (tier) => {
    const key = perTier.get(tier) ?? shared;
    if (key === undefined) throw new Error(`no --key for tier ${tier} (give --key KEY or --key ${tier}=KEY)`);
    return key;
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  function parse(args: readonly string[]) {
    return parseArgs({
      args: [...args],
      options: {
        profile: { type: "string" },
        duration: { type: "string" },
        url: { type: "string" },
        key: { type: "string", multiple: true },
        config: { type: "string" },
        "database-url": { type: "string" },
        json: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  }
  try {
    values = parse(argv).values;
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const profileName = values.profile;
  if (!PROFILE_NAMES.includes(profileName as ProfileName))
    return usageError(`--profile must be one of ${PROFILE_NAMES.join(", ")}`);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(Number.isFinite(duration) && duration > 0))
    return usageError(`--duration must be a positive number of seconds, got ${values.duration}`);
  if (values.url === undefined && values.key !== undefined) return usageError("--key needs --url");
  if (values.url !== undefined && values.key === undefined) return usageError("--url needs --key");
  if (values.url !== undefined && values["database-url"] !== undefined)
    return usageError("--database-url is for the gateway the runner starts, not one at --url");

  const log = (line: string) => console.log(`[loadtest] ${line}`);
  const config = loadConfig(values.config);
  let profile: ReturnType<typeof resolveProfile>;
  try {
    profile = resolveProfile(profileName as ProfileName, config.tiers);
  } catch (e) {
    return usageError((e as Error).message);
  }
  log(`profile ${profile.name}: ${profile.description} (tiers' SLAs from ${config.source})`);
  if (duration !== undefined) {
    log(`duration ${duration} s instead of the profile's ${profile.durationSeconds} s: a check, not the rated result`);
    profile = { ...profile, durationSeconds: duration };
  }

  let own: OwnGateway | undefined;
  let report: LoadReport;
  try {
    if (values.url === undefined) own = await startOwnGateway(config, { log, databaseUrl: values["database-url"] });
    const target: LoadTarget = own ?? { url: values.url!, keyFor: keysFrom(values.key ?? []) };
    report = await runLoad(profile, target, { log });
  } catch (e) {
    console.error(`loadtest: ${(e as Error).message}`);
    if (own) console.error(own.output());
    return 1;
  } finally {
    if (own) await own.stop();
  }

  const load = (l: readonly number[]) => l.map((v) => v.toFixed(2)).join(" ");
  console.log(
    `\nprofile ${report.profile}, ${report.durationSeconds} s, load average ${load(report.loadAverage.before)} → ` +
      `${load(report.loadAverage.after)}, client lag ≤ ${report.maxSendLagMs.toFixed(0)} ms; times in ms from the ` +
      `scheduled arrival, percentiles by nearest rank\n`,
  );
  console.log(formatTable(report.tiers));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  if (report.passed) {
    console.log("\nevery tier met its thresholds");
    return 0;
  }
  console.log(`\n${report.breaches.length} threshold(s) breached:`);
  for (const b of report.breaches) console.log(`  ${b.message}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
