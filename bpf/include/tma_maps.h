/* Every map of the program. Packet-path state is per CPU (no atomics) and exists in TMA_COPIES copies selected by
 * tma_ctl.epoch; sizes are fixed at load, whatever the traffic (docs/bpf.md has the arithmetic). */
#ifndef TMA_MAPS_H
#define TMA_MAPS_H

#include "tma_types.h"

/* Epoch flag written by user space: a global in a section of its own, which libbpf turns into a one-entry mmapable
 * array map named ".data.tma_ctl". The program reads it by its address (no map lookup); user space writes it with
 * bpf_map_update_elem (or through its mmap). */
volatile struct tma_ctl tma_ctl SEC(".data.tma_ctl");

/* Interface slots (struct tma_if_slot[TMA_IF_TABLE], indexed by ifindex & (TMA_IF_TABLE - 1)), written by user space
 * when it attaches; libbpf turns the section into a one-entry array map named ".data.tma_ifs". Read by address like
 * tma_ctl: the per-interface totals cost no map lookup. */
volatile struct tma_if_slot tma_ifs[TMA_IF_TABLE] SEC(".data.tma_ifs");

/* Barrier: updating slot 0 (with tma_ctl's fd) makes the kernel wait until every program in flight has finished. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(
		values, struct {
			__uint(type, BPF_MAP_TYPE_ARRAY);
			__uint(map_flags, BPF_F_MMAPABLE);
			__uint(max_entries, 1);
			__type(key, __u32);
			__type(value, struct tma_ctl);
		});
} tma_sync SEC(".maps");

/* All packet-path state: one struct tma_state per (CPU, copy), key = cpu * TMA_COPIES + copy. A plain array
 * (per-CPU array values are capped at 32 KiB) sized by the loader to the possible CPUs before load
 * (bpf_map__set_max_entries). The object's default covers TMA_STATE_CPUS_DEFAULT CPUs, so a generic loader
 * (bpftool) still counts every packet on a small machine; on CPUs beyond the map a packet is not counted. No atomics are needed because a CPU only ever writes its own entries. Mmapable, so
 * user space reads and clears the idle copy in place, with no copying syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TMA_STATE_CPUS_DEFAULT *TMA_COPIES);
	__type(key, __u32);
	__type(value, struct tma_state);
} tma_state SEC(".maps");

/* SYN-flood counters (struct tma_syn_state per (CPU, copy), key = cpu * TMA_COPIES + copy), sized by the loader like
 * tma_state; user space reads the idle copy with lookups and zeroes it with updates. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TMA_STATE_CPUS_DEFAULT *TMA_COPIES);
	__type(key, __u32);
	__type(value, struct tma_syn_state);
} tma_syn SEC(".maps");

/* Tests only: last packet's parse result, written when cfg.trace is set (dead code otherwise). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tma_trace);
} tma_trace SEC(".maps");

#endif /* TMA_MAPS_H */
