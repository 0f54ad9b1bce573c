#!/usr/bin/env bash
# What block rules cost the data path (needs root): the program built without the block lookup (TMA_BENCH_NO_BLOCK,
# today's data path) beside the product with no rule installed, with 1,000 rules away from the traffic (prefilter),
# with 1,000 rules in its /16s (a trie lookup per packet), and with a dry-run rule matching every packet; ns/packet by
# BPF_PROG_TEST_RUN, interleaved by round, ratios to the baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
npx tsc -b libs/kernel
npx tsc -p bench/bpf/tsconfig.json
CLANG="$(command -v clang-19 || echo clang)"
mkdir -p bench/bpf/.build
"$CLANG" -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_$(uname -m | sed -e s/x86_64/x86/ -e s/aarch64/arm64/) -DTMA_BENCH_NO_BLOCK -Wall -Werror \
  -Ibpf/.build -Ibpf/include -c bpf/tma.bpf.c -o bench/bpf/.build/noblock.bpf.o
echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
npx node bench/bpf/.build/js/bench/bpf/block.js bench/bpf/.build/noblock.bpf.o
