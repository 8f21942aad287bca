#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU build (node-llama-cpp, pinned) for the cross-check tests and
# bench:e2e, without node-llama-cpp's optional CUDA and Vulkan builds (~540 MB) and without its
# install scripts (they would try to download or build; the CPU binaries ship in the package).
set -euo pipefail
cd "$(dirname "$0")"
if [ -f node_modules/@node-llama-cpp/linux-x64/package.json ] && [ -f node_modules/node-llama-cpp/package.json ]; then
  exit 0
fi
npm install --omit=optional --ignore-scripts --no-audit --no-fund --no-package-lock
