import { type ParseArgsConfig, parseArgs } from "node:util";

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Returns the exit code. */
  run(args: readonly string[]): Promise<number>;
}

export interface CommandLine {
  readonly values: ReturnType<typeof parseArgs>["values"];
  readonly positionals: string[];
}

/**
 * The commands' shared argument handling: an option parseArgs refuses is a usage error (message
 * and usage on stderr, exit 2), `--help` prints the usage (exit 0); otherwise the parsed line.
 * `options` should declare `help`.
 */
export function parseCommandLine(
  command: string,
  usage: string,
  args: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  allowPositionals = false,
): CommandLine | number {
  let line: CommandLine;
  try {
    line = parseArgs({ args: [...args], options, allowPositionals });
  } catch (e) {
    console.error(`tritgate ${command}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (line.values.help) {
    console.log(usage);
    return 0;
  }
  return line;
}

/** A `--name N` option that must be a positive integer; undefined when absent, an Error naming the option when bad. */
export function positiveIntOption(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}
