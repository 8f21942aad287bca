/**
 * `tritgate migrate` — applies the migrations in `drizzle/` to the database the gateway uses: Postgres at
 * `DATABASE_URL` (or `--database-url`), else the embedded PGlite in the state directory. Opening the
 * database migrates it too; this command does only that, for deploy steps that migrate before serving.
 */
import { loadConfig, resolveStateDir } from "../../config/index.js";
import { type Command, parseCommandLine } from "../command.js";
import { runningGateway } from "../running-gateway.js";

const USAGE = `usage: tritgate migrate [options]
options:
  --database-url URL     Postgres to migrate (default: $DATABASE_URL; unset: PGlite in the state directory)
  --config FILE          gateway config (default: $TRITGATE_CONFIG, ./tritgate.yaml, else the built-in defaults)
  --state-dir DIR        where PGlite lives (default: $TRITGATE_STATE_DIR, else the config's server.stateDir)
  --json                 machine-readable output`;

/** The URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

export const migrateCommand: Command = {
  name: "migrate",
  summary: "apply the database migrations (Postgres at DATABASE_URL, else PGlite in the state directory)",
  async run(args) {
    const cli = parseCommandLine("migrate", USAGE, args, {
      "database-url": { type: "string" },
      config: { type: "string" },
      "state-dir": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (typeof cli === "number") return cli;
    const { values } = cli;
    try {
      const config = loadConfig(values.config as string | undefined);
      const stateDir = resolveStateDir(config, values["state-dir"] as string | undefined);
      const url = (values["database-url"] as string | undefined) ?? process.env.DATABASE_URL;
      // the database layer loads its drivers only here, not for every command
      const { driverFor, openDatabase, migrationStatus } = await import("../../db/index.js");
      const running = driverFor(url) === "pglite" ? runningGateway(stateDir) : undefined;
      if (running) {
        // PGlite is one process's database; the gateway migrated it when it opened it
        console.error(
          `tritgate migrate: a gateway (pid ${running.pid}) is serving from ${stateDir} and holds its embedded ` +
            "database, which it migrated at start; stop it first to run this.",
        );
        return 1;
      }
      const database = await openDatabase({ url, stateDir });
      try {
        const status = await migrationStatus(database);
        const where = database.driver === "postgres" && url ? redacted(url) : `PGlite in ${stateDir}`;
        if (values.json === true) console.log(JSON.stringify({ driver: database.driver, ...status }));
        else console.log(`${where}: ${status.applied} of ${status.total} migrations applied`);
      } finally {
        await database.close();
      }
      return 0;
    } catch (e) {
      console.error(`tritgate migrate: ${(e as Error).message}`);
      return 1;
    }
  },
};
