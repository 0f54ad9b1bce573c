// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The research prototype's design, for comparison only: the same parser, then an exact per-flow hash map shared by
 * all CPUs (atomic adds), updated on every packet. Memory grows with flows until the map is full; then flows are
 * lost. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tma_parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct exact_counts {
	__u64 packets;
	__u64 bytes;
};

/* sized for the largest benchmark (10^6 flows) so that no insert fails */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, struct tma_flow_key);
	__type(value, struct exact_counts);
} exact_flows SEC(".maps");

SEC("xdp")
int exact_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct tma_flow_key k = {};
	struct exact_counts *c, init;
	__u32 err = 0, len = end - data;
	void *l4 = NULL;

	if (tma_parse(data, end, &k, &err, 0, &l4) != TMA_PARSE_FLOW)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&exact_flows, &k);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, len);
	} else {
		init.packets = 1;
		init.bytes = len;
		bpf_map_update_elem(&exact_flows, &k, &init, BPF_NOEXIST);
	}
	return XDP_PASS;
}
