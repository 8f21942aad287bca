#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU build (node-llama-cpp, pinned, from package-lock.json) for the
# cross-check tests and bench:e2e, without node-llama-cpp's optional CUDA and Vulkan builds
# (~540 MB) and without its install scripts (they would try to download or build; the CPU
# binaries ship in the package). Linux x64 only: @node-llama-cpp/linux-x64 is named directly.
set -euo pipefail
cd "$(dirname "$0")"
installed() { # installed PACKAGE: prints the installed version, or nothing
  node -e 'try { console.log(require(`./node_modules/${process.argv[1]}/package.json`).version) } catch {}' "$1"
}
pinned() { # pinned PACKAGE: the version package.json asks for
  node -e 'console.log(require("./package.json").dependencies[process.argv[1]])' "$1"
}
if [ "$(installed node-llama-cpp)" = "$(pinned node-llama-cpp)" ] &&
  [ "$(installed @node-llama-cpp/linux-x64)" = "$(pinned @node-llama-cpp/linux-x64)" ]; then
  exit 0
fi
npm ci --omit=optional --ignore-scripts --no-audit --no-fund
