// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* TMA data path: every frame is parsed once and counted into this CPU's sketches (CMS by packets and bytes, four
 * HLLs, per-protocol totals, a bounded heavy-hitter candidate table), in the copy tma_ctl.epoch selects. A flow in
 * the candidate table is counted there only (the fast path of heavy flows); user space folds those counts into the
 * CMS when it reads the copy, so what it reads is the sketch of every packet.
 * The same code runs as XDP (ingress) and as TC clsact ingress/egress, from the Ethernet header or (the _l3
 * programs) from the IP header. It counts what the wire carries: a TC GSO/GRO skb counts its segments and their
 * headers. It never alters traffic, and drops only what an approved block rule matches on ingress (tma_block.h;
 * counted first like every packet): XDP_PASS and TC_ACT_UNSPEC otherwise. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tma_types.h"
#include "tma_config.h"
#include "tma_maps.h"
#include "tma_parse.h"
#include "tma_block.h"

#define TMA_TC_ACT_UNSPEC (-1)
#define TMA_TC_ACT_SHOT	  2
#define TMA_PULL_LEN	  256 /* bytes made linear when TC headers sit in paged data */

/* The flow key's address escapes into an empty asm: the compiler must keep it one stack object (written once by the
 * parser, read by the hash and the candidate compare) instead of splitting it into scalars that it re-zeroes on every
 * parser branch when the parser is inlined. */
#ifndef TMA_KEEP_IN_MEMORY
#define TMA_KEEP_IN_MEMORY(x) asm volatile("" : : "r"(&(x)) : "memory")
#endif

/* Benchmark builds only (bench/bpf/breakdown.sh): stop after stage TMA_BENCH_CUT (1 parse, 2 state + totals,
 * 3 flow hash, 4 candidate lookup) to measure what each stage adds. Product builds run every stage. */
#ifndef TMA_BENCH_CUT
#define TMA_BENCH_CUT 0
#endif
#define TMA_CUT_AT(n, ...)                                                                                             \
	do {                                                                                                           \
		if (TMA_BENCH_CUT == (n)) {                                                                            \
			asm volatile("" : : __VA_ARGS__ : "memory");                                                   \
			return;                                                                                        \
		}                                                                                                      \
	} while (0)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void tma_trace_put(struct tma_flow_key *k, __u64 hash, __u32 kind, __u32 err, __u32 len)
{
	__u32 zero = 0;
	struct tma_trace *t;

	if (!tma_cfg.trace)
		return;
	t = bpf_map_lookup_elem(&tma_trace, &zero);
	if (!t)
		return;
	t->seq++;
	t->key = *k;
	t->hash = hash;
	t->kind = kind;
	t->err = err;
	t->bytes = len;
}

/* HLL update without a count of leading zeros on the common path: with x the hash bits below the index moved to
 * the top (x = h << p), rank = clz64(x) + 1 (51 when x = 0, as SPEC.md), so rank > r <=> x >> (64 - r) == 0 for
 * 1 <= r <= 50. Only a register that grows pays for tma_hll_rank, which is rare once an epoch is warm. */
static __always_inline void tma_hll_add(struct tma_hll *hll, __u64 h)
{
	__u64 x = h << TMA_HLL_P;
	__u32 idx = tma_hll_index(h) & (TMA_HLL_M - 1);
	__u8 r = hll->reg[idx];

	if (r == 0 || (r < TMA_HLL_RANK_MAX && (x >> (64 - r)) == 0))
		hll->reg[idx] = tma_hll_rank(h);
}

static __always_inline int tma_key_eq(const struct tma_flow_key *a, const struct tma_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* ---- Heavy prefixes (tma_state.pfx; docs/bpf.md, "Heavy prefixes") ---- */

/* Adds packets/bytes to one prefix in its table's set: its way if it has one, else the way with the fewest packets,
 * which it takes over at that count (Space-Saving: the set's smallest count never decreases, so it bounds every
 * prefix the set does not list). meta = length | family << 8 | side << 16 | domain << 24, the key's third word. */
static __always_inline void tma_pfx_add(struct tma_state *s, __u32 table, __u32 meta, __u64 prefix, __u64 packets,
					__u64 bytes)
{
	__u64 h = tma_hash_prefix((__u32)prefix, (__u32)(prefix >> 32), meta);
	struct tma_pfx_set *set = &s->pfx[table * TMA_PFX_SETS + (tma_hash_hi(h) >> (32 - TMA_PFX_SET_BITS))];
	__u64 least = ~0ULL;
	__u32 v = 0;
	int w;

#pragma unroll
	for (w = 0; w < TMA_PFX_WAYS; w++) {
		__u64 p = set->packets[w];

		if (p && set->prefix[w] == prefix) {
			set->packets[w] = p + packets;
			set->bytes[w] += bytes;
			return;
		}
		if (p < least) {
			least = p;
			v = w;
		}
	}
	v &= TMA_PFX_WAYS - 1;
	if (least && set->bytes[v] > set->evicted_bytes)
		set->evicted_bytes = set->bytes[v];
	set->prefix[v] = prefix;
	set->packets[v] = least + packets;
	set->bytes[v] = set->evicted_bytes + bytes;
	set->base_packets[v] = least;
	set->base_bytes[v] = set->evicted_bytes;
}

#define TMA_PFX_META(len, fam, side) ((__u32)(len) | (__u32)(fam) << 8 | (__u32)(side) << 16 | TMA_DOMAIN_PREFIX << 24)

/* One address's three prefixes: IPv4 /8 /16 /24 or IPv6 /32 /48 /64. */
static __always_inline void tma_pfx_addr(struct tma_state *s, const __u8 *addr, __u32 side, __u64 packets, __u64 bytes)
{
	__u32 a[4];

	/* the key's addresses are 4-byte aligned: word loads, not sixteen byte loads and shifts per address */
	__builtin_memcpy(a, __builtin_assume_aligned(addr, 4), sizeof(a));
	if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
		__u32 t = side * 2 * TMA_PFX_LEVELS;

		tma_pfx_add(s, t, TMA_PFX_META(8, 4, side), a[3] & bpf_htonl(0xff000000), packets, bytes);
		tma_pfx_add(s, t + 1, TMA_PFX_META(16, 4, side), a[3] & bpf_htonl(0xffff0000), packets, bytes);
		tma_pfx_add(s, t + 2, TMA_PFX_META(24, 4, side), a[3] & bpf_htonl(0xffffff00), packets, bytes);
	} else {
		__u32 t = side * 2 * TMA_PFX_LEVELS + TMA_PFX_LEVELS;

		tma_pfx_add(s, t, TMA_PFX_META(32, 6, side), a[0], packets, bytes);
		tma_pfx_add(s, t + 1, TMA_PFX_META(48, 6, side), a[0] | (__u64)(a[1] & bpf_htonl(0xffff0000)) << 32,
			    packets, bytes);
		tma_pfx_add(s, t + 2, TMA_PFX_META(64, 6, side), a[0] | (__u64)a[1] << 32, packets, bytes);
	}
}

/* Every IP packet outside the candidate table (and, when a way is evicted, what it counted since it entered; user
 * space folds the members' since-entry counts at read time): its source and destination prefixes. */
static __always_inline void tma_pfx_flow(struct tma_state *s, const struct tma_flow_key *k, __u64 packets, __u64 bytes)
{
	tma_pfx_addr(s, k->src, 0, packets, bytes);
	tma_pfx_addr(s, k->dst, 1, packets, bytes);
}

/* The eviction's call: global, so the verifier checks the prefix update of an evicted way once on its own instead of
 * on every path of the entry into the table (rare: only an eviction pays the call). A light packet's update is inline
 * in the light path. */
__attribute__((noinline)) int tma_pfx_count(struct tma_state *s, const struct tma_flow_key *k, __u64 packets,
					    __u64 bytes)
{
	if (!s || !k)
		return 0;
	tma_pfx_flow(s, k, packets, bytes);
	return 0;
}

/* Adds a member's exact counts (what it gathered since it entered, kept out of the CMS) to its CMS cells: the CMS then
 * holds what it would hold had every packet updated it. Runs when a member is evicted; user space does the same for
 * the members it reads (EpochReader, TestKernel.cms). */
static __always_inline void tma_cand_fold(struct tma_state *s, __u64 h, __u64 packets, __u64 bytes)
{
	int row;

#pragma unroll
	for (row = 0; row < TMA_CMS_DEPTH; row++) {
		struct tma_cms_cell *c = &s->cms[row * TMA_CMS_WIDTH + tma_cms_index(h, row)];

		c->packets += packets;
		c->bytes += bytes;
	}
}

/* A member of the candidate table counts its packets here, exactly, and skips the CMS and the HLLs: its CMS cells
 * get the sum when it is read or evicted, and its HLL keys were added by the packet that made it a member (adding
 * a key again never changes an HLL). Returns 1 when the flow is a member. Checked first on every packet, so a
 * member never misses a packet: its count (CMS estimate at entry + exact since) bounds its true count from above. */
static __always_inline int tma_cand_hit(struct tma_cand_set *set, const struct tma_flow_key *k, __u64 h, __u32 len,
					__u32 segs)
{
	int w;

#pragma unroll
	for (w = 0; w < TMA_CAND_WAYS; w++) {
		if (set->hash[w] == h && set->packets[w] && tma_key_eq(&set->key[w], k)) {
			set->packets[w] += segs;
			set->bytes[w] += len;
			return 1;
		}
	}
	return 0;
}

/* The flow's CMS estimate on this CPU reached the threshold: it takes the emptiest way of its set, starting at that
 * estimate (recorded as the way's base, so what it gathers later can be told apart and folded into the CMS). A full
 * set gives up its way with the fewest packets only to a flow whose estimate is higher: a lighter newcomer stays in
 * the CMS. Whatever is let go (the evicted way's count, or the refused flow's estimate) raises the dropped maximum,
 * and an evicted way's since-entry counts go to the eviction totals: together they bound every flow the table does
 * not list at the end of the copy. */
static __always_inline void tma_cand_insert(struct tma_state *s, struct tma_cand_set *set, __u32 set_idx,
					    struct tma_flow_key *k, __u64 h, __u64 est_packets, __u64 est_bytes)
{
	struct tma_totals *t = &s->totals;
	struct tma_cand_base *b;
	__u64 least = ~0ULL, gone_packets, gone_bytes;
	__u32 v = 0;
	int w;

#pragma unroll
	for (w = 0; w < TMA_CAND_WAYS; w++) {
		if (set->packets[w] < least) {
			least = set->packets[w];
			v = w;
		}
	}
	v &= TMA_CAND_WAYS - 1;
	b = &s->cand_base[(set_idx * TMA_CAND_WAYS + v) & (TMA_CAND_SLOTS - 1)];
	if (least) {
		if (est_packets <= least) {
			gone_packets = est_packets;
			gone_bytes = est_bytes;
		} else {
			gone_packets = least;
			gone_bytes = set->bytes[v];
		}
		if (gone_packets > t->cand_dropped_max_packets)
			t->cand_dropped_max_packets = gone_packets;
		if (gone_bytes > t->cand_dropped_max_bytes)
			t->cand_dropped_max_bytes = gone_bytes;
		if (est_packets <= least)
			return;
		t->cand_evictions++;
		t->cand_evicted_packets += least - b->packets;
		t->cand_evicted_bytes += set->bytes[v] - b->bytes;
		tma_cand_fold(s, set->hash[v], least - b->packets, set->bytes[v] - b->bytes);
		tma_pfx_count(s, &set->key[v], least - b->packets, set->bytes[v] - b->bytes);
	}
	t->cand_inserts++;
	set->key[v] = *k;
	set->hash[v] = h;
	set->packets[v] = est_packets;
	set->bytes[v] = est_bytes;
	b->packets = est_packets;
	b->bytes = est_bytes;
}

/* The four hashes of SPEC.md (flow, src, dst, dport keys) from the flow key's words, sharing work: the src key's
 * first four words are the flow key's, so their NH products (s01) are the same; the domain words of the src/dst/dport
 * keys are constants (each multiplied by a load-time key word of .rodata.hash). The flow hash comes first; the other
 * three only on the HLL path (heavy flows skip it). tma_hash.h defines the reference; the golden tests check every
 * result against the shared test vectors. */
static __always_inline __u64 tma_hash_flow_s01(const struct tma_flow_key *k, __u64 *s01)
{
	__u32 w[10];

	__builtin_memcpy(w, k, sizeof(w));
	*s01 = tma_nh(w[0], TMA_HASH_K0, w[1], TMA_HASH_K1) + tma_nh(w[2], TMA_HASH_K2, w[3], TMA_HASH_K3);
	return tma_fmix(*s01 + tma_nh(w[4], TMA_HASH_K4, w[5], TMA_HASH_K5) +
				tma_nh(w[6], TMA_HASH_K6, w[7], TMA_HASH_K7) +
				tma_nh(w[8], TMA_HASH_K8, w[9], TMA_HASH_K9),
			TMA_FLOW_KEY_WORDS);
}

static __always_inline void tma_hash_others(const struct tma_flow_key *k, __u64 s01, __u64 *src, __u64 *dst,
					    __u64 *dport)
{
	__u32 w[8];

	__builtin_memcpy(w, k, sizeof(w));
	*src = tma_fmix(s01 + tma_nh(TMA_DOMAIN_SRC, TMA_HASH_K4, 0, TMA_HASH_K5), TMA_ADDR_KEY_WORDS);
	*dst = tma_fmix(tma_nh(w[4], TMA_HASH_K0, w[5], TMA_HASH_K1) + tma_nh(w[6], TMA_HASH_K2, w[7], TMA_HASH_K3) +
				tma_nh(TMA_DOMAIN_DST, TMA_HASH_K4, 0, TMA_HASH_K5),
			TMA_ADDR_KEY_WORDS);
	/* ports key word 0: dport bytes as on the wire, proto, domain; word 1: zero */
	*dport = tma_fmix(tma_nh((__u32)k->dport | (__u32)k->proto << 16 | (__u32)TMA_DOMAIN_PORTS << 24, TMA_HASH_K0,
				 0, TMA_HASH_K1),
			  TMA_PORTS_KEY_WORDS);
}

/* Effective candidate threshold: the configured minimum, or the CMS noise floor when that is higher. n = IP packets
 * in this copy on this CPU so far (non-IP frames and parse errors never reach the CMS); the mean count other flows add to a cell is n >> width bits (of the sampled
 * packets when sampling, hence the division, which the verifier drops when sample_rate is 1). Shifts only. */
static __always_inline __u64 tma_cand_threshold(__u64 n)
{
	__u64 floor;

	if (tma_cfg.sample_rate > 1)
		n /= tma_cfg.sample_rate;
	floor = (n >> TMA_CMS_WIDTH_BITS) << (tma_cfg.cand_noise_shift & 31);
	return floor > tma_cfg.cand_threshold ? floor : tma_cfg.cand_threshold;
}

/* Per-source spreads (include/tma_spread.h, SpreadSketch with 4-bit HLL registers): one register of a bucket, as
 * tma_hll_add: with x = e << p, rank > r <=> x >> (64 - r) == 0, so only a register that grows counts zeros. */
static __always_inline __u32 tma_spread_rank(__u64 x)
{
	__u64 n = 0, t;

	/* x = e << p: its low p bits are zero, so bit p - 1 set stands for the end of the bits (rank 65 - p when x = 0)
	 * and never changes the count otherwise. Branch-free binary search ((y - 1) >> 63 is 1 exactly when y = 0): BPF
	 * has no set-on-condition, and branches here would multiply the verifier's paths. */
	x |= 1ULL << (TMA_SPREAD_P - 1);
	t = ((x >> 32) - 1) >> 63 << 5;
	n += t;
	x <<= t;
	t = ((x >> 48) - 1) >> 63 << 4;
	n += t;
	x <<= t;
	t = ((x >> 56) - 1) >> 63 << 3;
	n += t;
	x <<= t;
	t = ((x >> 60) - 1) >> 63 << 2;
	n += t;
	x <<= t;
	t = ((x >> 62) - 1) >> 63 << 1;
	n += t;
	x <<= t;
	n += ((x >> 63) - 1) >> 63;
	return (__u32)n + 1;
}

static __always_inline void tma_spread_reg(__u8 *regs, __u64 e)
{
	__u32 i = (__u32)(e >> (64 - TMA_SPREAD_P)), shift = (i & 1) * 4, rank;
	__u64 x = e << TMA_SPREAD_P;
	__u8 byte = regs[(i >> 1) & (TMA_SPREAD_REGS / 2 - 1)];
	__u32 r = (byte >> shift) & 15;

	/* rank > r <=> the top r bits of x are zero (r = 0: always); one test for every r. At r = 15 a rank above it
	 * rewrites 15 (once in 2^15 elements). */
	if (((x >> 1) >> ((63 - r) & 63)) == 0) {
		/* min(rank, 15) without a branch: d < 0 exactly when rank < 15 */
		__s64 d = (__s64)tma_spread_rank(x) - TMA_SPREAD_RANK_MAX;

		rank = TMA_SPREAD_RANK_MAX + (__u32)(d & (d >> 63));
		regs[(i >> 1) & (TMA_SPREAD_REGS / 2 - 1)] = (byte & ~(15u << shift)) | rank << shift;
	}
}

/* The bucket's candidate source becomes this packet's when the higher rank of its two elements passes the bucket's
 * level l: with x the smaller of the two elements shifted (the one with more leading zeros), rank > l <=> the top l
 * bits of x are zero (l = 0, an empty bucket: always). Strictly above: the packets of the source that set the level
 * (its element again) change nothing, and the first source to reach a level keeps it. */
static __always_inline void tma_spread_level(struct tma_spread_bucket *b, const struct tma_flow_key *k, __u64 ed,
					     __u64 ep)
{
	__u64 xd = ed << TMA_SPREAD_P, xp = ep << TMA_SPREAD_P, x = xd < xp ? xd : xp;
	__u32 l = b->level;

	if (((x >> 1) >> ((63 - l) & 63)) != 0 || l >= TMA_SPREAD_LEVEL_MAX)
		return;
	b->level = tma_spread_rank(x);
	__builtin_memcpy(b->src, k->src, sizeof(b->src));
}

/* Adds a packet's (source, destination) and (source, destination port) pairs to the source's bucket of every row:
 * one cache line per row. Runs beside the HLLs (a candidate member's pairs were added by the packet that made it a
 * member, and adding a pair again changes nothing). */
static __always_inline void tma_spread_add(struct tma_spread *sp, const struct tma_flow_key *k, __u64 hs, __u64 hd,
					   __u64 hp)
{
	__u64 ed = tma_spread_element(hs, hd), ep = tma_spread_element(hs, hp);
	int row;

#pragma unroll
	for (row = 0; row < TMA_SPREAD_ROWS; row++) {
		struct tma_spread_bucket *b =
			&sp->b[(row * TMA_SPREAD_WIDTH + tma_spread_column(hs, row)) & (TMA_SPREAD_BUCKETS - 1)];

		tma_spread_reg(b->dst, ed);
		tma_spread_reg(b->port, ep);
		tma_spread_level(b, k, ed, ep);
	}
}

/* SYN-flood counters (docs/threats.md: syn-flood). TCP flag bits of the byte at offset 13 of the header. */
#define TMA_TCP_FIN 0x01
#define TMA_TCP_SYN 0x02
#define TMA_TCP_RST 0x04
#define TMA_TCP_ACK 0x10

/* The TCP flags of a packet parsed as a TCP flow (transport header at l4off; 0 when not TCP or cut off). */
static __always_inline __u8 tma_tcp_flags(void *data, void *end, int res, __u8 proto, __u32 l4off)
{
	__u8 *b;

	if (res != TMA_PARSE_FLOW || proto != TMA_IPPROTO_TCP || l4off > 1023)
		return 0;
	b = data + (l4off & 1023);
	if ((void *)(b + 14) > end)
		return 0;
	return b[13];
}

/* The address a class is keyed by, hashed as the destination HLL hashes its key (address, TMA_DOMAIN_DST). */
static __always_inline __u64 tma_syn_hash(const __u8 *addr)
{
	__u32 w[4];

	__builtin_memcpy(w, addr, sizeof(w));
	return tma_fmix(tma_nh(w[0], TMA_HASH_K0, w[1], TMA_HASH_K1) + tma_nh(w[2], TMA_HASH_K2, w[3], TMA_HASH_K3) +
				tma_nh(TMA_DOMAIN_DST, TMA_HASH_K4, 0, TMA_HASH_K5),
			TMA_ADDR_KEY_WORDS);
}

/* A SYN's destination whose estimate reached TMA_SYN_CAND_MIN: into its slot unless a heavier address holds it. */
static __always_inline void tma_syn_cand_put(struct tma_syn_state *s, __u64 h, const __u8 *addr, __u32 est)
{
	struct tma_syn_cand *c = &s->cand[tma_hash_lo(h) & (TMA_SYN_CANDS - 1)];

	if (c->hash == h) {
		c->syn = est;
		return;
	}
	if (c->hash && c->syn >= est)
		return;
	c->hash = h;
	__builtin_memcpy(c->addr, addr, 16);
	c->syn = est;
}

/* One TCP packet (segs on the wire) into this CPU's SYN counters: its class by flags, keyed by the server's address
 * (the destination of a SYN or an ACK, the source of a SYN-ACK or an RST). Other flag sets (FIN or none) cost a
 * compare. hd: the destination's address hash when the caller has it (the HLL path computes it), else 0. */
static __always_inline int tma_syn_count_in(const struct tma_flow_key *k, __u32 flags, __u32 segs, __u64 hd)
{
	struct tma_syn_state *s;
	const __u8 *addr;
	__u32 key, cls, est = ~0U;
	__u64 h;
	int row;

	if (!k)
		return 0;
	if (flags & TMA_TCP_SYN)
		cls = flags & TMA_TCP_ACK ? TMA_SYN_SYNACK : TMA_SYN_SYN;
	else if (flags & TMA_TCP_RST)
		cls = TMA_SYN_RST;
	else if (flags & TMA_TCP_ACK)
		cls = TMA_SYN_ACK;
	else
		return 0;
	key = bpf_get_smp_processor_id() * TMA_COPIES + (tma_ctl.epoch & 1);
	s = bpf_map_lookup_elem(&tma_syn, &key);
	if (!s)
		return 0;
	if (cls == TMA_SYN_SYN || cls == TMA_SYN_ACK) {
		addr = k->dst;
		h = hd ? hd : tma_syn_hash(addr);
	} else {
		addr = k->src;
		h = tma_syn_hash(addr);
	}
#pragma unroll
	for (row = 0; row < TMA_SYN_DEPTH; row++) {
		__u32 col = (__u32)(tma_hash_lo(h) + row * tma_hash_hi(h)) >> (32 - TMA_SYN_WIDTH_BITS);
		__u32 *c = &s->cms[row * TMA_SYN_WIDTH + col].c[cls & (TMA_SYN_CLASSES - 1)];
		__u32 v = *c + segs;

		*c = v;
		est = v < est ? v : est;
	}
	if (cls == TMA_SYN_SYN && est >= TMA_SYN_CAND_MIN)
		tma_syn_cand_put(s, h, addr, est);
	return 0;
}

/* A packet of flow k (hash h, s01 its first NH products) outside the candidate table: the CMS rows, maybe an entry
 * into the table, the four HLLs, the spreads, the prefixes and the SYN counters (tcp_flags: the packet's TCP flags, 0
 * when not TCP or already counted; counted with the destination hash computed here for the HLL). The noise floor
 * counts the packets that can reach the CMS: n = IP packets in this copy on this CPU (the three counters sit in one
 * cache line). */
static __always_inline void tma_sketch_light(struct tma_state *s, struct tma_flow_key *k, __u64 h, __u64 s01, __u32 len,
					     __u32 segs, __u8 tcp_flags)
{
	struct tma_totals *t = &s->totals;
	__u64 n = t->packets - t->non_ip_packets - t->error_packets;
	__u64 hs, hd, hp;
	__u64 est_packets = ~0ULL, est_bytes = ~0ULL;
	__u32 set_idx = tma_hash_lo(h) & (TMA_CAND_SETS - 1);
	int row;

#pragma unroll
	for (row = 0; row < TMA_CMS_DEPTH; row++) {
		struct tma_cms_cell *c = &s->cms[row * TMA_CMS_WIDTH + tma_cms_index(h, row)];
		__u64 p = c->packets + segs, b = c->bytes + len;

		c->packets = p;
		c->bytes = b;
		est_packets = p < est_packets ? p : est_packets;
		est_bytes = b < est_bytes ? b : est_bytes;
	}
	if (est_packets >= tma_cand_threshold(n))
		tma_cand_insert(s, &s->cand[set_idx], set_idx, k, h, est_packets, est_bytes);
	tma_hash_others(k, s01, &hs, &hd, &hp);
	tma_hll_add(&s->hll[TMA_HLL_FLOWS], h);
	tma_hll_add(&s->hll[TMA_HLL_SOURCES], hs);
	tma_hll_add(&s->hll[TMA_HLL_DESTINATIONS], hd);
	tma_hll_add(&s->hll[TMA_HLL_PORTS], hp);
	tma_spread_add(&s->spread, k, hs, hd, hp);
	tma_pfx_flow(s, k, segs, len);
	if (tcp_flags)
		tma_syn_count_in(k, tcp_flags, segs, hd);
}

/* One IP packet (segs on the wire) of flow k: its candidate way if it has one; else the light path. All inline: a
 * BPF-to-BPF call costs ~8 ns a packet on this kind of VM (return thunk), so neither path makes one. The verifier
 * walks this code once per path out of the parse; it fits its limit with tunnels on since the TC parse after a pull
 * is a global function (tma_reparse_tc). tcp_flags: the packet's TCP flags for the SYN counters (0: none, or already
 * counted): a candidate flow's packets count there only when they carry SYN or RST (its ACKs were counted until it
 * entered the table, after its handshake). */
static __always_inline void tma_sketch(struct tma_state *s, struct tma_flow_key *k, __u32 len, __u32 segs,
				       __u8 tcp_flags)
{
	__u64 h, s01;

	h = tma_hash_flow_s01(k, &s01);
	tma_trace_put(k, h, TMA_TRACE_FLOW, 0, len);
	TMA_CUT_AT(3, "r"(h));
	if (tma_cand_hit(&s->cand[tma_hash_lo(h) & (TMA_CAND_SETS - 1)], k, h, len, segs)) {
		if (tcp_flags & (TMA_TCP_SYN | TMA_TCP_RST))
			tma_syn_count_in(k, tcp_flags, segs, 0);
		return;
	}
	TMA_CUT_AT(4, "r"(h));
	tma_sketch_light(s, k, h, s01, len, segs, tcp_flags);
}

/* This CPU's state in the copy the kernel writes now (NULL only if the loader sized tma_state too small). */
static __always_inline struct tma_state *tma_state_now(void)
{
	__u32 key = bpf_get_smp_processor_id() * TMA_COPIES + (tma_ctl.epoch & 1);

	return bpf_map_lookup_elem(&tma_state, &key);
}

/* Keeps one packet in sample_rate. A per-CPU xorshift64 in the totals replaces the bpf_get_prandom_u32 helper call
 * (≈ 10 ns on a VM behind the return thunk) by a few shifts; it is reseeded from the helper when its copy was just
 * cleared. ((x >> 32) * rate) >> 32 is uniform in [0, rate) up to rate / 2^32, and costs a multiply, not a division. */
static __always_inline int tma_sampled(struct tma_totals *t)
{
	__u64 x = t->rng;

	if (!x)
		x = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return (((x >> 32) * tma_cfg.sample_rate) >> 32) == 0;
}

/* Slot of an interface in tma_state.ifc (0: no slot of its own). */
static __always_inline __u32 tma_if_slot(__u32 ifindex)
{
	__u32 i = ifindex & (TMA_IF_TABLE - 1);

	return tma_ifs[i].ifindex == ifindex ? tma_ifs[i].slot & (TMA_IF_SLOTS - 1) : 0;
}

/* Counts one parsed frame (segs wire packets of len bytes in all: 1 and the frame length, except for a TC GSO/GRO
 * skb). res/err come from tma_parse; ifc = ifc index of the interface and direction; tcp_flags: the TCP flags of a
 * TCP flow (tma_tcp_flags), 0 otherwise. */
static __always_inline void tma_count(int res, __u32 err, struct tma_flow_key *k, __u32 len, __u32 segs, __u32 ifc,
				      __u8 tcp_flags)
{
	struct tma_state *s;
	struct tma_totals *t;

	TMA_CUT_AT(1, "r"(res), "r"(err), "r"(len));
	s = tma_state_now();
	if (!s)
		return;
	t = &s->totals;
	t->packets += segs;
	t->bytes += len;
	s->ifc[ifc & (TMA_IF_SLOTS * 2 - 1)].packets += segs;
	s->ifc[ifc & (TMA_IF_SLOTS * 2 - 1)].bytes += len;

	if (res == TMA_PARSE_ERROR) {
		t->error_packets += segs;
		t->error_bytes += len;
		s->errors[err & (TMA_ERR_SLOTS - 1)] += segs;
		tma_trace_put(k, 0, TMA_TRACE_ERROR, err, len);
		return;
	}
	if (res == TMA_PARSE_NON_IP) {
		t->non_ip_packets += segs;
		t->non_ip_bytes += len;
		tma_trace_put(k, 0, TMA_TRACE_NON_IP, 0, len);
		return;
	}
	if (res == TMA_PARSE_FLOW_MALFORMED)
		s->errors[err & (TMA_ERR_SLOTS - 1)] += segs;
	t->proto[k->proto].packets += segs;
	t->proto[k->proto].bytes += len;
	TMA_CUT_AT(2, "r"(t));
	if (tma_cfg.sample_rate > 1) {
		/* sampling: the SYN counters still see every TCP packet (exact, like the totals) */
		if (tcp_flags)
			tma_syn_count_in(k, tcp_flags, segs, 0);
		tcp_flags = 0;
		if (!tma_sampled(t))
			return;
	}
	tma_sketch(s, k, len, segs, tcp_flags);
}

/* In and out of the inner parse: the outer key and transport offset in, the inner ones out. */
struct tma_inner {
	struct tma_flow_key k;
	__u32 err;
	__u32 l4off;
};

/* The packet a VXLAN/Geneve/GRE header carries, parsed into io when it is well formed (TMA_PARSE_FLOW or
 * TMA_PARSE_FLOW_MALFORMED returned); anything else returns -1 and leaves io alone. */
static __always_inline int tma_inner_parse(void *data, void *end, struct tma_inner *io)
{
	struct tma_flow_key k = {};
	void *in, *l4 = NULL;
	__u32 err = 0;
	int res, l3 = 0;

	if (!io || io->l4off > 1023)
		return -1;
	in = tma_tunnel_inner(data + (io->l4off & 1023), end, &io->k, &l3);
	if (!in)
		return -1;
	TMA_KEEP_IN_MEMORY(k);
	res = tma_parse(in, end, &k, &err, l3, &l4);
	if (res != TMA_PARSE_FLOW && res != TMA_PARSE_FLOW_MALFORMED)
		return -1;
	io->k = k;
	io->err = err;
	io->l4off = (__u32)(l4 - data);
	return res;
}

/* Global functions: the verifier checks each once on its own, instead of once for every path of the outer parse
 * (inlined, the two parses multiply past its complexity limit). Called only when tma_cfg.tunnels is inner. */
__attribute__((noinline)) int tma_inner_xdp(struct xdp_md *ctx, struct tma_inner *io)
{
	return tma_inner_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, io);
}

__attribute__((noinline)) int tma_inner_tc(struct __sk_buff *skb, struct tma_inner *io)
{
	return tma_inner_parse((void *)(long)skb->data, (void *)(long)skb->data_end, io);
}

/* The parse again once bpf_skb_pull_data made a TC packet's headers linear: into io (key, reason, transport offset,
 * 0 when none) from a zeroed key, returning what tma_parse returns. Global, verified once: inlined, the second parse
 * and everything after it were verified again on every truncation path of the first (with tunnels on, tma_tc took
 * 957,000 of the verifier's 10^6 instructions with the sketch update in a global function; now 626,000 with it
 * and the SYN counting inline). */
static __always_inline int tma_reparse(struct __sk_buff *skb, struct tma_inner *io, int l3)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	void *l4 = NULL;
	__u32 err = 0;
	int res;

	if (!io)
		return TMA_PARSE_ERROR;
	__builtin_memset(&io->k, 0, sizeof(io->k));
	res = tma_parse(data, end, &io->k, &err, l3, &l4);
	io->err = err;
	io->l4off = l4 ? (__u32)(l4 - data) : 0;
	return res;
}

/* One per link type, so each is verified for its own. */
__attribute__((noinline)) int tma_reparse_tc(struct __sk_buff *skb, struct tma_inner *io)
{
	return tma_reparse(skb, io, 0);
}

__attribute__((noinline)) int tma_reparse_tc_l3(struct __sk_buff *skb, struct tma_inner *io)
{
	return tma_reparse(skb, io, 1);
}

/* Replaces the outer key by the tunnelled packet's (and sets l4off to the inner transport header) when
 * tma_cfg.tunnels is inner and the frame is a tunnel whose inner packet is well formed; anything else keeps the outer
 * key. The outer transport header: l4 (NULL: none), or its offset l4off when l4 is NULL (the TC parse after a pull;
 * 0: none). */
#define TMA_TUNNEL_INNER(fn, ctx, res, kp, err, data, l4, l4off)                                                       \
	do {                                                                                                           \
		if (tma_cfg.tunnels == TMA_TUNNELS_INNER && (res) == TMA_PARSE_FLOW && ((l4) || (l4off))) {            \
			struct tma_inner io = { .k = *(kp), .l4off = (l4) ? (__u32)((l4) - (data)) : (l4off) };        \
			int ires = fn((ctx), &io);                                                                     \
                                                                                                                       \
			if (ires >= 0) {                                                                               \
				*(kp) = io.k;                                                                          \
				(err) = io.err;                                                                        \
				(l4off) = io.l4off;                                                                    \
				(res) = ires;                                                                          \
			}                                                                                              \
		}                                                                                                      \
	} while (0)

static __always_inline int tma_xdp_count(struct xdp_md *ctx, int l3)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct tma_flow_key k = {};
	void *l4 = NULL;
	__u32 err = 0, l4off = 0;
	int res;

	TMA_KEEP_IN_MEMORY(k);
	res = tma_parse(data, end, &k, &err, l3, &l4);
	TMA_TUNNEL_INNER(tma_inner_xdp, ctx, res, &k, err, data, l4, l4off);
	if (!l4off && l4)
		l4off = (__u32)(l4 - data);
	tma_count(res, err, &k, (__u32)(end - data), 1, tma_if_slot(ctx->ingress_ifindex) * 2 + TMA_DIR_INGRESS,
		  tma_tcp_flags(data, end, res, k.proto, l4off));
	if ((res == TMA_PARSE_FLOW || res == TMA_PARSE_FLOW_MALFORMED) && tma_block_ctl.rules &&
	    tma_block_drop(&k, (__u32)(end - data), 1))
		return XDP_DROP;
	return XDP_PASS;
}

/* Header bytes each segment of a GSO skb repeats: everything up to the end of the transport header (TCP with its
 * options, UDP) at offset l4off, measured on the skb's one copy of them. */
static __always_inline __u32 tma_gso_hlen(struct __sk_buff *skb, __u32 l4off, __u8 proto)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *b;

	if (proto == TMA_IPPROTO_UDP)
		return l4off + 8;
	if (proto != TMA_IPPROTO_TCP)
		return l4off;
	if (l4off > 1023) /* bounded so the verifier can check the read; GSO headers are far shorter */
		return l4off + 20;
	b = data + (l4off & 1023);
	if ((void *)b + 13 > end)
		return l4off + 20;
	return l4off + (b[12] >> 4) * 4;
}

/* Returns 1 when a block rule drops the packet (ingress only). */
static __always_inline int tma_tc_count(struct __sk_buff *skb, int l3, __u32 dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tma_flow_key k = {};
	__u32 err = 0, len = skb->len, segs = skb->gso_segs, l4off = 0;
	void *l4 = NULL;
	int res;

	TMA_KEEP_IN_MEMORY(k);
	res = tma_parse(data, end, &k, &err, l3, &l4);
	if (((res == TMA_PARSE_ERROR && tma_err_truncation(err)) ||
	     (res == TMA_PARSE_FLOW_MALFORMED && err == TMA_ERR_TCP_TRUNC)) &&
	    len > (__u32)(end - data)) {
		/* headers in paged data: make them linear (contents unchanged) and parse again */
		int pulled = bpf_skb_pull_data(skb, len < TMA_PULL_LEN ? len : TMA_PULL_LEN) == 0;

		/* packet pointers are stale after the call, whatever it returned */
		l4 = NULL;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (pulled) {
			struct tma_inner io = {};

			res = l3 ? tma_reparse_tc_l3(skb, &io) : tma_reparse_tc(skb, &io);
			k = io.k;
			err = io.err;
			l4off = io.l4off;
		}
		/* the pull is counted in the totals of the copy the packet lands in */
		{
			struct tma_state *s = tma_state_now();

			if (s)
				s->totals.pulls++;
		}
	}
	TMA_TUNNEL_INNER(tma_inner_tc, skb, res, &k, err, data, l4, l4off);
	/* A GSO skb (TSO/GSO on egress, GRO on ingress) is gso_segs packets on the wire, each with its own copy of the
	 * headers the skb holds once. */
	if (!l4off && l4)
		l4off = (__u32)(l4 - data);
	if (segs > 1) {
		if (l4off)
			len += (segs - 1) * tma_gso_hlen(skb, l4off, k.proto);
	} else {
		segs = 1;
	}
	tma_count(res, err, &k, len, segs, tma_if_slot(skb->ifindex) * 2 + dir,
		  tma_tcp_flags(data, end, res, k.proto, l4off));
	return dir == TMA_DIR_INGRESS && (res == TMA_PARSE_FLOW || res == TMA_PARSE_FLOW_MALFORMED) &&
	       tma_block_ctl.rules && tma_block_drop(&k, len, segs);
}

/* XDP: ingress only; the _l3 variant for devices whose frames start at the IP header (the loader picks by device
 * type). */
SEC("xdp")
int tma_xdp(struct xdp_md *ctx)
{
	return tma_xdp_count(ctx, 0);
}

SEC("xdp")
int tma_xdp_l3(struct xdp_md *ctx)
{
	return tma_xdp_count(ctx, 1);
}

/* TC clsact: one program per direction (the per-interface totals tell them apart) and link type. */
SEC("tc")
int tma_tc(struct __sk_buff *skb)
{
	return tma_tc_count(skb, 0, TMA_DIR_INGRESS) ? TMA_TC_ACT_SHOT : TMA_TC_ACT_UNSPEC;
}

SEC("tc")
int tma_tc_eg(struct __sk_buff *skb)
{
	tma_tc_count(skb, 0, TMA_DIR_EGRESS);
	return TMA_TC_ACT_UNSPEC;
}

SEC("tc")
int tma_tc_l3(struct __sk_buff *skb)
{
	return tma_tc_count(skb, 1, TMA_DIR_INGRESS) ? TMA_TC_ACT_SHOT : TMA_TC_ACT_UNSPEC;
}

SEC("tc")
int tma_tc_l3_eg(struct __sk_buff *skb)
{
	tma_tc_count(skb, 1, TMA_DIR_EGRESS);
	return TMA_TC_ACT_UNSPEC;
}
