/* Every map of the program. Packet-path state is per-CPU (no atomics) and exists in TMA_COPIES copies selected by
 * tma_ctl.epoch; sizes are fixed at load, whatever the traffic (docs/bpf.md has the arithmetic). */
#ifndef TMA_MAPS_H
#define TMA_MAPS_H

#include "tma_types.h"

/* Epoch flag written by user space; mmapable so the agent may flip it without a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tma_ctl);
} tma_ctl SEC(".maps");

/* Barrier: updating slot 0 (with tma_ctl's fd) makes the kernel wait until every program in flight has finished. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(map_flags, BPF_F_MMAPABLE);
		__uint(max_entries, 1);
		__type(key, __u32);
		__type(value, struct tma_ctl);
	});
} tma_sync SEC(".maps");

/* Totals and per-protocol counters: one entry per copy. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_COPIES);
	__type(key, __u32);
	__type(value, struct tma_totals);
} tma_totals SEC(".maps");

/* Malformed-packet counters by reason: key = copy * TMA_ERR__COUNT + enum tma_err. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_COPIES * TMA_ERR__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} tma_errors SEC(".maps");

/* Count-Min Sketch by packets and bytes, in 16 KiB chunks: key = copy * TMA_CMS_CHUNKS + chunk. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_COPIES * TMA_CMS_CHUNKS);
	__type(key, __u32);
	__type(value, struct tma_cms_chunk);
} tma_cms SEC(".maps");

/* HyperLogLog registers: key = copy * TMA_HLL_KINDS + enum tma_hll_kind. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_COPIES * TMA_HLL_KINDS);
	__type(key, __u32);
	__type(value, struct tma_hll);
} tma_hll SEC(".maps");

/* Heavy-hitter candidate sets: key = copy * TMA_CAND_SETS + set. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_COPIES * TMA_CAND_SETS);
	__type(key, __u32);
	__type(value, struct tma_cand_set);
} tma_cand SEC(".maps");

/* Tests only: last packet's parse result, written when cfg.trace is set (dead code otherwise). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tma_trace);
} tma_trace SEC(".maps");

#endif /* TMA_MAPS_H */
