#!/usr/bin/env bash
# Builds what the benchmark needs and runs it (see bench.js and scale.js for options).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
tsc -b libs/sketch libs/storage libs/rollup libs/aggregation apps/query-api
# --scale: the fleet-scale run (scale.js), merges on the event loop and on worker threads side by side
for a in "$@"; do [ "$a" = --scale ] && exec node bench/query-api/scale.js "$@"; done
exec node bench/query-api/bench.js "$@"
