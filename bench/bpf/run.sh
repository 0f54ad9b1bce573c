#!/usr/bin/env bash
# BPF_PROG_TEST_RUN benchmark of the data path (needs root): builds the objects, compiles the script, runs it.
# Usage: bench/bpf/run.sh [variant.bpf.o]   (a second build of the program, measured beside the product's)
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
make -s -C bench/bpf
npx tsc -p bench/bpf/tsconfig.json
# the kernel tests' plain-JS test-run binding is typed by a .d.ts, so tsc does not emit it
cp bpf/test/test-run.js bench/bpf/.build/js/bpf/test/
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
npx node bench/bpf/.build/js/bench/bpf/bench.js "$@"
