/** `tritgate <command>`: a command per file under src/cli/commands, dispatched here. */

import type { Command } from "./command.js";
import { convertCommand } from "./commands/convert.js";
import { generateCommand } from "./commands/generate.js";
import { hwCommand } from "./commands/hw.js";
import { keysCommand } from "./commands/keys.js";

const commands: readonly Command[] = [hwCommand, generateCommand, convertCommand, keysCommand];

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return [
    "usage: tritgate <command> [options]",
    "",
    "commands:",
    ...lines,
    "",
    "Not yet built: serve, eval, bench, train, migrate.",
  ].join("\n");
}

/** Runs a command line; returns the process exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // until the gateway exists, a bare `tritgate` (what `npm start` runs) reports the machine
    const code = await hwCommand.run([]);
    console.log(
      "\nThe gateway (`tritgate serve`) is not built yet: this release has the kernels only. Nothing is being served.",
    );
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
