#!/usr/bin/env bash
# Builds the self-contained edge agent bundle: tma-agent-<version>-linux-x64.tar.gz with the project's Node 22
# runtime, the built agent and the libraries it loads (production dependencies only), the BPF object and a launcher
# bin/tma-agent. Runs on a Debian 12 (or newer glibc) x86-64 host that has libbpf.so.1 (package libbpf1).
#   infra/bundle/build.sh [--out DIR] [--no-build]     default DIR: dist/ of the repository (git-ignored)
# Prints the path of the archive on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/dist"
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: $0 [--out DIR] [--no-build]" >&2; exit 2 ;;
  esac
done
export PATH="$ROOT/node_modules/.bin:$PATH"
cd "$ROOT"

[ "$(uname -m)" = x86_64 ] || { echo "build.sh: only linux-x64 bundles are made (this is $(uname -m))" >&2; exit 1; }
if [ "$BUILD" = 1 ]; then
  make -s -C bpf
  tsc -b apps/edge-agent
fi

# The real Node executable of the `node` npm package (node_modules/.bin/node is a link to it).
NODE_BIN="$(readlink -f node_modules/node/bin/node)"
[ "$(head -c 4 "$NODE_BIN" | tail -c 3)" = ELF ] || { echo "build.sh: $NODE_BIN is not an ELF executable" >&2; exit 1; }
NODE_MAJOR="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 22 ] || { echo "build.sh: bundled node must be 22+, got $NODE_MAJOR" >&2; exit 1; }

VERSION="$(node -p 'require("./apps/edge-agent/package.json").version')"
NAME="tma-agent-$VERSION-linux-x64"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAGE="$(mktemp -d "$OUT/.stage-XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
DIR="$STAGE/$NAME"
mkdir -p "$DIR/bin" "$DIR/runtime" "$DIR/share"

node infra/bundle/assemble.js "$DIR" >/dev/null
install -m 0755 "$NODE_BIN" "$DIR/runtime/node"
install -m 0755 infra/bundle/tma-agent "$DIR/bin/tma-agent"
install -m 0644 infra/systemd/tma-agent.service infra/systemd/tma-agent.env "$DIR/share/"
echo "$VERSION" >"$DIR/VERSION"

# Reproducible archive: fixed owner, order and timestamps, no gzip name or time.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00:00Z' -C "$STAGE" -cf - "$NAME" \
  | gzip -n >"$OUT/$NAME.tar.gz.tmp"
mv "$OUT/$NAME.tar.gz.tmp" "$OUT/$NAME.tar.gz"
echo "$OUT/$NAME.tar.gz"
