/**
 * `npm run check:llama-cpp -- FILE.gguf [--prompt TEXT] [--tokens N]`: a BitNet GGUF in tritgate
 * and in llama.cpp (see check.ts). Prints the report as JSON; exits 0 when they agree.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { checkFile } from "./check.js";
import { LlamaCpp } from "./llama.js";

export async function main(argv: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { prompt: { type: "string" }, tokens: { type: "string" } },
  });
  const [path, ...rest] = positionals;
  const tokens = values.tokens === undefined ? undefined : Number(values.tokens);
  if (path === undefined || rest.length > 0 || (tokens !== undefined && !(Number.isInteger(tokens) && tokens > 0))) {
    print("usage: npm run check:llama-cpp -- FILE.gguf [--prompt TEXT] [--tokens N]");
    return 2;
  }
  const report = await checkFile(await LlamaCpp.load(), path, { prompt: values.prompt, tokens });
  print(JSON.stringify(report, null, 2));
  return report.verdict === "agree" || report.verdict === "agree-within-bound" ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    },
  );
}
