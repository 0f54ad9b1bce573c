#!/usr/bin/env bash
# The build stage of infra/Dockerfile, as one script the Dockerfile RUNs and infra/deploy/docker.spec.ts runs in a
# temporary copy of the same files outside Docker: install the locked dependencies, build the eBPF object and every
# TypeScript project, then drop the development dependencies.
#   infra/docker/build-steps.sh [--keep-dev]     (from the directory holding package.json)
set -euo pipefail
PRUNE=1
[ "${1:-}" = --keep-dev ] && PRUNE=0

# Not `npm ci`: chdb lists native packages for other platforms that the registry does not serve, so they never
# enter the lock file and `npm ci` refuses it; `npm install` installs the locked tree and leaves the lock as is.
before="$(mktemp)"
cp package-lock.json "$before"
npm install --no-audit --no-fund
cmp -s package-lock.json "$before" || { echo "build-steps: npm install changed package-lock.json" >&2; exit 1; }
rm -f "$before"

export PATH="$PWD/node_modules/.bin:$PATH"
make -s -C bpf
tsc -b
if [ "$PRUNE" = 1 ]; then
  npm prune --omit=dev --no-audit --no-fund
fi
