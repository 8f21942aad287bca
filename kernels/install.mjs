#!/usr/bin/env node
// Builds the native kernels during `npm install`. Without a toolchain the install fails with
// a message that says what to install: tritgate has no slow pure-JS fallback to hide behind.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const kernelsDir = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const HOW_TO_INSTALL = [
  "  Debian/Ubuntu:  apt-get install build-essential python3",
  "  Fedora/RHEL:    dnf install gcc make python3",
  "  Alpine:         apk add build-base python3",
  "  macOS:          xcode-select --install",
].join("\n");

function die(problem) {
  console.error(
    `\ntritgate: cannot build the native kernels: ${problem}\nInstall a C toolchain and run \`npm install\` again:\n${HOW_TO_INSTALL}\n`,
  );
  process.exit(1);
}

function works(command, args = ["--version"]) {
  const result = spawnSync(command, args, { stdio: "ignore" });
  return result.status === 0;
}

const compiler = process.env.CC ?? ["cc", "gcc", "clang"].find((cc) => works(cc));
if (!compiler || !works(compiler)) die("no C compiler found (tried $CC, cc, gcc, clang)");
if (!works("make")) die("`make` was not found");
if (!works("python3")) die("`python3` was not found (node-gyp needs it)");

// node-gyp downloads Node's headers unless told where they are; offline machines that ship
// them with Node (Debian's nodejs puts them in /usr/include/node) can build without network.
const args = [require.resolve("node-gyp/bin/node-gyp.js"), "rebuild", "--directory", kernelsDir];
const nodedir = process.env.npm_config_nodedir ?? systemNodedir();
if (nodedir) args.push(`--nodedir=${nodedir}`);

// Quiet unless it fails: node-gyp's and the compiler's output is kept and shown only then (or always
// with `npm install --loglevel verbose`), so a good install is not pages of `gyp info`.
const verbose = ["verbose", "silly"].includes(process.env.npm_config_loglevel ?? "");
const build = spawnSync(process.execPath, args, {
  stdio: verbose ? "inherit" : ["ignore", "pipe", "pipe"],
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
});
const addon = join(kernelsDir, "build", "Release", "tritgate_kernels.node");
if (build.status !== 0 || !existsSync(addon)) {
  if (!verbose)
    process.stderr.write(`${build.stdout ?? ""}${build.stderr ?? ""}${build.error ? `${build.error.message}\n` : ""}`);
  die(
    build.status !== 0
      ? `node-gyp failed (exit ${build.status ?? build.signal}); its output is above`
      : "node-gyp produced no addon",
  );
}

/** /usr when its headers are this very Node's version, else undefined (node-gyp downloads). */
function systemNodedir() {
  const header = "/usr/include/node/node_version.h";
  if (!existsSync(header)) return undefined;
  const text = readFileSync(header, "utf8");
  const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
  const version = `${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
  return version === process.versions.node ? "/usr" : undefined;
}
