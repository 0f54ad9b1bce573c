#!/usr/bin/env bash
# Receiver pps on veth (needs root): no program vs no-op programs on tcx and XDP vs the TMA program and the agent on
# each hook vs tcpdump -w, in two set-ups (shared CPU, split sender/receiver CPUs); see bench.ts.
# Arguments go to the script: --rounds N (default 11), --loops N (pcap repeats per trial, default 8), --pps N,
# --modes shared,split, --object FILE (the TMA object; default bpf/dist/tma.bpf.o).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
make -s -C bench/bpf
make -s -C bench/pps
npx tsc -b apps/edge-agent
npx tsc -p bench/pps/tsconfig.json
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
npx node bench/pps/.build/js/bench/pps/bench.js "$@"
