#!/usr/bin/env bash
# Receiver pps on veth: no program vs the TMA program (TC, XDP) vs an XDP no-op vs tcpdump -w (needs root).
# Arguments go to the script: --rounds N (default 5), --loops N (pcap repeats per trial, default 8), --pps N.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
make -s -C bench/bpf
npx tsc -p bench/pps/tsconfig.json
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
npx node bench/pps/.build/js/bench/pps/bench.js "$@"
