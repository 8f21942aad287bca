/** `tritgate <command>`: a command per file under src/cli/commands, dispatched here. */

import type { Command } from "./command.js";
import { convertCommand } from "./commands/convert.js";
import { evalCommand } from "./commands/eval.js";
import { familyCommand } from "./commands/family.js";
import { generateCommand } from "./commands/generate.js";
import { hwCommand } from "./commands/hw.js";
import { keysCommand } from "./commands/keys.js";
import { migrateCommand } from "./commands/migrate.js";
import { serveCommand } from "./commands/serve.js";
import { trainCommand } from "./commands/train.js";
import { usageCommand } from "./commands/usage.js";
import { variantsCommand } from "./commands/variants.js";

const commands: readonly Command[] = [
  serveCommand,
  hwCommand,
  generateCommand,
  convertCommand,
  keysCommand,
  trainCommand,
  familyCommand,
  evalCommand,
  migrateCommand,
  variantsCommand,
  usageCommand,
];

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return ["usage: tritgate <command> [options]", "", "commands:", ...lines, "", "Not yet built: bench."].join("\n");
}

/** Runs a command line; returns the process exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // a bare `tritgate` reports the machine and says how to serve; `npm start` runs `tritgate serve`
    const code = await hwCommand.run([]);
    console.log("\nNothing is being served by this command: `tritgate serve` (or `npm start`) starts the gateway.");
    return code;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`tritgate: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}
