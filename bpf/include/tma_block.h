/* Mitigation (docs/threats.md, "Mitigation"): approved block rules, applied on ingress (XDP, TC ingress).
 * A rule is keyed by its source prefix in an LPM trie (addresses IPv4-mapped as in the flow key, so an IPv4 /n is
 * a /96+n); the longest matching prefix decides, then its optional protocol, destination port and destination
 * address. Each rule carries its expiry in kernel monotonic ns (bpf_ktime_get_ns): past it the rule matches nothing
 * and the first packet that finds it deletes it, so rules expire even while the agent is down. Per-rule counters
 * (per CPU) count what a rule dropped, or in dry-run what it would have dropped. With no rule installed the packet
 * path reads one word and skips the lookup. */
#ifndef TMA_BLOCK_H
#define TMA_BLOCK_H

#include "tma_hash.h"

/* Entries of the LPM trie (the agent's rule cap is at most this) and of the counter array. */
#define TMA_BLOCK_RULES 1024
#define TMA_BLOCK_SLOTS 1024

/* tma_block_rule.flags */
#define TMA_BLOCK_F_DST	    1 /* match the destination address too */
#define TMA_BLOCK_F_DRY_RUN 2 /* only count what would be dropped */

/* LPM trie key: prefix length in bits (of the 128-bit IPv4-mapped address), then the address. */
struct tma_block_key {
	__u32 prefixlen;
	__u8 src[16];
};

struct tma_block_rule {
	__u64 expires_ns;	  /* bpf_ktime_get_ns() deadline: at or past it the rule is gone */
	__u8 dst[16];		  /* destination, IPv4-mapped; compared when flags & TMA_BLOCK_F_DST */
	struct tma_block_key key; /* the rule's own trie key (the kernel deletes it by this key when it expired) */
	__u16 dport;		  /* network byte order; 0 = any port */
	__u8 proto;		  /* IP protocol number; 0 = any */
	__u8 flags;		  /* TMA_BLOCK_F_* */
	__u32 slot;		  /* counters at tma_block_stats[slot] */
	__u32 pad;
};

/* What one rule matched on one CPU: dropped, or in dry-run would have dropped. */
struct tma_block_count {
	__u64 packets;
	__u64 bytes;
};

/* IPv4 sources are prefiltered by their first 16 bits: a set bit means some rule may hold the /16. */
#define TMA_BLOCK_V4_WORDS (65536 / 64)

/* Written by user space: rules = entries it installed (0: the packet path skips the lookup entirely); v6_rules = how
 * many of them are IPv6 (0: IPv6 packets skip it); v4_bits = the /16s IPv4 rules cover, so traffic from elsewhere
 * skips it too. A bit may stay set after the kernel expired a rule: that only costs a lookup. */
struct tma_block_ctl {
	__u32 rules;
	__u32 v6_rules;
	__u64 v4_bits[TMA_BLOCK_V4_WORDS];
};

#ifdef __bpf__
/* Read by address like tma_ctl: libbpf turns the section into a one-entry array map named ".data.tma_block". */
volatile struct tma_block_ctl tma_block_ctl SEC(".data.tma_block");

/* The rules by source prefix. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TMA_BLOCK_RULES);
	__type(key, struct tma_block_key);
	__type(value, struct tma_block_rule);
} tma_block SEC(".maps");

/* Per-rule counters by slot (the agent assigns slots and zeroes a slot before it reuses it). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TMA_BLOCK_SLOTS);
	__type(key, __u32);
	__type(value, struct tma_block_count);
} tma_block_stats SEC(".maps");

static __always_inline int tma_block_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* Returns 1 when an active, non-dry-run rule matches the packet (k: its flow key; segs packets of len bytes):
 * the caller drops it. Counts every match in the rule's slot. */
static __always_inline int tma_block_match(const struct tma_flow_key *k, __u32 len, __u32 segs)
{
	struct tma_block_key key = { .prefixlen = 128 };
	struct tma_block_rule *r;
	struct tma_block_count *c;
	const __u32 *w;
	__u32 slot;

#ifdef TMA_BENCH_NO_BLOCK /* benchmark builds only (bench/bpf/block.sh): the data path without mitigation */
	return 0;
#endif
	if (!tma_block_ctl.rules)
		return 0;
	w = (const __u32 *)k->src;
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		slot = ((__u32)k->src[12] << 8) | k->src[13];
		if (!((tma_block_ctl.v4_bits[(slot >> 6) & (TMA_BLOCK_V4_WORDS - 1)] >> (slot & 63)) & 1))
			return 0;
	} else if (!tma_block_ctl.v6_rules) {
		return 0;
	}
	__builtin_memcpy(key.src, k->src, sizeof(key.src));
	r = bpf_map_lookup_elem(&tma_block, &key);
	if (!r)
		return 0;
	if (bpf_ktime_get_ns() >= r->expires_ns) {
		/* expired: the first packet that meets it removes it (copied: the trie frees the value) */
		key = r->key;
		bpf_map_delete_elem(&tma_block, &key);
		return 0;
	}
	if ((r->proto && r->proto != k->proto) || (r->dport && r->dport != k->dport))
		return 0;
	if ((r->flags & TMA_BLOCK_F_DST) && !tma_block_addr_eq(r->dst, k->dst))
		return 0;
	slot = r->slot & (TMA_BLOCK_SLOTS - 1);
	c = bpf_map_lookup_elem(&tma_block_stats, &slot);
	if (c) {
		c->packets += segs;
		c->bytes += len;
	}
	return !(r->flags & TMA_BLOCK_F_DRY_RUN);
}

/* Global: the verifier checks it once on its own instead of on every path out of tma_count (inlined, with the
 * heavy-prefix and spread updates the program passed the verifier's complexity limit). */
__attribute__((noinline)) int tma_block_drop(const struct tma_flow_key *k, __u32 len, __u32 segs)
{
	if (!k)
		return 0;
	return tma_block_match(k, len, segs);
}
#endif /* __bpf__ */

#endif /* TMA_BLOCK_H */
