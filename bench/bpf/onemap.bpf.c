// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Benchmark-only prototype of a map layout change (not the shipped layout): all of one CPU's state for one copy
 * (totals, CMS, HLLs, candidates) in ONE value of a plain array map keyed by cpu * TMA_COPIES + copy, so a packet
 * costs two map lookups (control, state) instead of eleven (control, totals, four CMS chunks, candidate set, four
 * HLLs). Per-CPU array values are capped at 32 KiB, hence a plain array indexed by CPU (no atomics needed: a CPU
 * only writes its own entry, and the program is not re-entered on one CPU for the same hook).
 * Same parser, hash, update rules and thresholds as bpf/tma.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tma_types.h"
#include "tma_config.h"
#include "tma_parse.h"

#define PROTO_MAX_CPUS 16 /* the agent would size this to the possible CPUs with bpf_map__set_max_entries */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct tma_state {
	struct tma_totals totals;
	struct tma_cms_cell cms[TMA_CMS_CELLS];
	struct tma_hll hll[TMA_HLL_KINDS];
	struct tma_cand_set cand[TMA_CAND_SETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tma_ctl);
} proto_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROTO_MAX_CPUS * TMA_COPIES);
	__type(key, __u32);
	__type(value, struct tma_state);
} proto_state SEC(".maps");

static __always_inline void hll_add(struct tma_hll *hll, __u64 h)
{
	__u64 x = h << TMA_HLL_P;
	__u32 idx = tma_hll_index(h) & (TMA_HLL_M - 1);
	__u8 r = hll->reg[idx];

	if (r == 0 || (r < TMA_HLL_RANK_MAX && (x >> (64 - r)) == 0))
		hll->reg[idx] = tma_hll_rank(h);
}

static __always_inline int key_eq(const struct tma_flow_key *a, const struct tma_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

static __always_inline int cand_add(struct tma_state *s, struct tma_flow_key *k, __u64 h, __u32 len, __u64 ep,
				    __u64 eb)
{
	struct tma_cand_set *set = &s->cand[tma_hash_lo(h) & (TMA_CAND_SETS - 1)];
	struct tma_cand *c;
	__u64 least = ~0ULL;
	__u32 victim = 0;
	int w;

#pragma unroll
	for (w = 0; w < TMA_CAND_WAYS; w++) {
		c = &set->way[w];
		if (c->packets && c->hash == h && key_eq(&c->key, k)) {
			c->packets++;
			c->bytes += len;
			return 1;
		}
		if (c->packets < least) {
			least = c->packets;
			victim = w;
		}
	}
	c = &set->way[victim & (TMA_CAND_WAYS - 1)];
	if (c->packets)
		s->totals.cand_evictions++;
	s->totals.cand_inserts++;
	c->key = *k;
	c->hash = h;
	c->packets = ep;
	c->bytes = eb;
	return 0;
}

static __always_inline void count(int res, struct tma_flow_key *k, __u32 len)
{
	__u32 zero = 0, key;
	struct tma_ctl *ctl = bpf_map_lookup_elem(&proto_ctl, &zero);
	struct tma_state *s;
	__u64 h, ep = ~0ULL, eb = ~0ULL;
	int row;

	if (!ctl)
		return;
	key = bpf_get_smp_processor_id() * TMA_COPIES + (ctl->epoch & 1);
	s = bpf_map_lookup_elem(&proto_state, &key);
	if (!s)
		return;
	s->totals.packets++;
	s->totals.bytes += len;
	if (res != TMA_PARSE_FLOW) {
		s->totals.error_packets++; /* prototype: error/non-IP detail as in tma.bpf.c, not measured here */
		return;
	}
	s->totals.proto_packets[k->proto]++;
	s->totals.proto_bytes[k->proto] += len;

	h = tma_hash_flow(k);
#pragma unroll
	for (row = 0; row < TMA_CMS_DEPTH; row++) {
		struct tma_cms_cell *c = &s->cms[row * TMA_CMS_WIDTH + tma_cms_index(h, row)];
		__u64 p = c->packets + 1, b = c->bytes + len;

		c->packets = p;
		c->bytes = b;
		ep = p < ep ? p : ep;
		eb = b < eb ? b : eb;
	}
	if (ep >= tma_cfg.cand_threshold && cand_add(s, k, h, len, ep, eb))
		return;
	hll_add(&s->hll[TMA_HLL_FLOWS], h);
	{
		struct tma_addr_key a = {};
		struct tma_dport_key d = {};

		__builtin_memcpy(a.addr, k->src, 16);
		a.domain = TMA_DOMAIN_SRC;
		hll_add(&s->hll[TMA_HLL_SRC], tma_hash_addr(&a));
		__builtin_memcpy(a.addr, k->dst, 16);
		a.domain = TMA_DOMAIN_DST;
		hll_add(&s->hll[TMA_HLL_DST], tma_hash_addr(&a));
		d.dport = k->dport;
		d.proto = k->proto;
		d.domain = TMA_DOMAIN_DPORT;
		hll_add(&s->hll[TMA_HLL_DPORT], tma_hash_dport(&d));
	}
}

SEC("xdp")
int tma_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct tma_flow_key k = {};
	__u32 err = 0;
	int res;

	res = tma_parse(data, end, &k, &err);
	count(res, &k, (__u32)(end - data));
	return XDP_PASS;
}
