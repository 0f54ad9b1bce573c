#!/usr/bin/env bash
# Builds what the benchmark needs and runs it (see bench.js for options).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
tsc -b libs/sketch libs/storage libs/rollup apps/query-api
exec node bench/query-api/bench.js "$@"
