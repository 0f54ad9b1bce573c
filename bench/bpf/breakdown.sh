#!/usr/bin/env bash
# Where the data path's time goes (needs root): builds the program cut after each stage (TMA_BENCH_CUT: 1 parse,
# 2 + state lookup and totals, 3 + flow hash, 4 + CMS rows) and runs them with the full program through the
# interleaved hot A/B (one packet repeated in the kernel); differences between rows are the stages' costs.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C bpf
make -s -C bench/bpf
# the compiled scripts load @tma/kernel (and its testing entry) from the library's build
npx tsc -b libs/kernel
npx tsc -p bench/bpf/tsconfig.json
CLANG="$(command -v clang-19 || echo clang)"
objs=()
for cut in 1 2 3 4; do
  "$CLANG" -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_$(uname -m | sed -e s/x86_64/x86/ -e s/aarch64/arm64/) -DTMA_BENCH_CUT=$cut -Wall -Werror \
    -Ibpf/.build -Ibpf/include -c bpf/tma.bpf.c -o bench/bpf/.build/cut$cut.bpf.o
  objs+=(bench/bpf/.build/cut$cut.bpf.o)
done
echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ns/packet: median over rounds, then over the no-op, then [each round]"
npx node bench/bpf/.build/js/bench/bpf/hot.js "${objs[@]}" bpf/dist/tma.bpf.o
