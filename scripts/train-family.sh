#!/usr/bin/env bash
# Reproduces a trained family: the fp32 and QAT runs of one recipe side by side (one core each,
# the native trainer's best throughput on a 2-core machine), then export + eval + model cards.
#   scripts/train-family.sh [RECIPE] [OUT]      (default: nano models/nano)
# Interrupted runs resume from their last checkpoint when the script is run again.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe="${1:-nano}"
out="${2:-models/$recipe}"
npm run build --silent
mkdir -p runs
pids=()
for mode in fp32 qat; do
  TRITGATE_THREADS=1 node bin/tritgate.js train --recipe "$recipe" --mode "$mode" --out "runs/$recipe/$mode" --resume \
    > "runs/$recipe-$mode.log" 2>&1 &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
if [ "$status" -ne 0 ]; then
  echo "a training run failed: see runs/$recipe-fp32.log and runs/$recipe-qat.log" >&2
  exit 1
fi
node bin/tritgate.js family --recipe "$recipe" --runs "runs/$recipe" --out "$out"
