#!/usr/bin/env bash
# BPF_PROG_TEST_RUN benchmark of the data path (needs root): builds the objects, compiles the script, runs it.
# Usage: bench/bpf/run.sh [variant.bpf.o ...]   (other builds of the program, measured beside the product's)
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
make -s -C bench/bpf
# the compiled scripts load @tma/kernel (and its testing entry) from the library's build
npx tsc -b libs/kernel
npx tsc -p bench/bpf/tsconfig.json
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
npx node bench/bpf/.build/js/bench/bpf/bench.js "$@"
