/**
 * The server's log: one line per event on stderr, `[tritgate] level message`, filtered by level
 * (`TRITGATE_LOG_LEVEL=debug|info|warn|error`, default info). Tests pass their own `write` to read it.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function isLogLevel(value: string | undefined): value is LogLevel {
  // own keys only: `in` would also accept "toString" or "constructor", a level that silences every line
  return value !== undefined && Object.hasOwn(RANK, value);
}

export function createLogger(
  level: LogLevel = isLogLevel(process.env.TRITGATE_LOG_LEVEL) ? process.env.TRITGATE_LOG_LEVEL : "info",
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const at =
    (l: LogLevel) =>
    (message: string): void => {
      if (RANK[l] >= RANK[level]) write(`[tritgate] ${l} ${message}`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
