/** Finding and reading the config file, falling back to the embedded defaults. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { defaultConfig } from "./defaults.js";
import { parseConfig } from "./parse.js";
import type { GatewayConfig } from "./schema.js";

/** File names looked for in the working directory when neither a path nor `TRITGATE_CONFIG` is given. */
export const CONFIG_FILE_NAMES = ["tritgate.yaml", "tritgate.yml", "tritgate.json"] as const;

/** Which file `loadConfig` would read: the argument, `TRITGATE_CONFIG`, or a `tritgate.{yaml,yml,json}` here. */
export function findConfigFile(path?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (path !== undefined && path !== "") return path;
  const fromEnv = env.TRITGATE_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return CONFIG_FILE_NAMES.find((name) => existsSync(name));
}

/**
 * The gateway config: from `path`, else `TRITGATE_CONFIG`, else `./tritgate.{yaml,yml,json}`, else the
 * embedded defaults. Relative paths in a file resolve against the file's directory. Model files are not
 * opened here: a missing one is the server's to report (the variant is not ready).
 */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const file = findConfigFile(path, env);
  if (file === undefined) return defaultConfig();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "it does not exist"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a directory"
            : (e as Error).message;
    throw new Error(`cannot read config file ${file}: ${why}`);
  }
  return parseConfig(text, file, { baseDir: dirname(resolve(file)) });
}
