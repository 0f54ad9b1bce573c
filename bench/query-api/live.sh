#!/usr/bin/env bash
# Builds what the live-latency benchmark needs and runs it (see live.js for options).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
tsc -b apps/query-api tools/fleet-sim/tsconfig.json
exec node bench/query-api/live.js "$@"
