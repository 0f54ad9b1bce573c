/* Per-source spreads (SpreadSketch: Tang, Huang, Lee, "SpreadSketch: Toward Invertible and Network-Wide Detection
 * of Superspreaders", INFOCOM 2020), with a small HyperLogLog in place of the paper's multiresolution bitmap (as
 * in the paper's own variant built on any mergeable distinct counter): TMA_SPREAD_ROWS rows of TMA_SPREAD_WIDTH
 * buckets, a source updates one bucket per row (column from its source hash, as a CMS row). A bucket holds two
 * HLLs of TMA_SPREAD_REGS 4-bit registers, one of the distinct (source, destination) pairs and one of the distinct
 * (source, destination port + protocol) pairs that reached it, and a candidate source: the one whose element had the
 * highest rank (the paper's level) so far, the first to reach it. A superspreader or scanner adds many distinct elements, so it owns the
 * highest level of its buckets with high probability: the sketch names it (invertible) without a key list.
 * Merge (CPUs, hosts, windows): registers by max, the candidate of the higher level (ties: the smaller address).
 * docs/threats.md, "Per-source spreads", has the estimate and its bound; libs/sketch/src/spread.ts is the reference.
 * No kernel includes here (shared with user space through tma_types.h). */
#ifndef TMA_SPREAD_H
#define TMA_SPREAD_H

#define TMA_SPREAD_ROWS	      1
#define TMA_SPREAD_WIDTH_BITS 10
#define TMA_SPREAD_WIDTH      (1 << TMA_SPREAD_WIDTH_BITS)
#define TMA_SPREAD_BUCKETS    (TMA_SPREAD_ROWS * TMA_SPREAD_WIDTH)
#define TMA_SPREAD_P	      5 /* registers per HLL: 2^p */
#define TMA_SPREAD_REGS	      (1 << TMA_SPREAD_P)
#define TMA_SPREAD_RANK_MAX   15 /* 4-bit registers */
#define TMA_SPREAD_LEVEL_MAX  (64 - TMA_SPREAD_P + 1)
/* Odd 64-bit multiplier (2^64 / golden ratio) that mixes a pair's two keyed hashes into its element hash. */
#define TMA_SPREAD_MIX 0x9e3779b97f4a7c15ULL

/* One bucket, one cache line: the candidate source (canonical 16-byte address, IPv4-mapped), the registers two per
 * byte (register i in byte i / 2, low nibble for even i), and the candidate's level (0: empty bucket). */
struct tma_spread_bucket {
	__u8 src[16];
	__u8 dst[TMA_SPREAD_REGS / 2];	/* distinct destinations */
	__u8 port[TMA_SPREAD_REGS / 2]; /* distinct (destination port, protocol) */
	__u8 level;
	__u8 pad[15];
};

/* Row-major: bucket row * TMA_SPREAD_WIDTH + column. */
struct tma_spread {
	struct tma_spread_bucket b[TMA_SPREAD_BUCKETS];
};

_Static_assert(sizeof(struct tma_spread_bucket) == 64, "a bucket is one cache line");

/* Element hash of a pair from the two keyed hashes of its parts (source address, and destination address or
 * destination port key): the source hash's bits xored with the other's, times an odd constant, so every bit of
 * both reaches the top bits that pick the register and the rank. */
static inline __attribute__((always_inline)) __u64 tma_spread_element(__u64 hsrc, __u64 hother)
{
	return (hsrc ^ hother) * TMA_SPREAD_MIX;
}

/* Column of the source's bucket in row `row` (the CMS derivation of SPEC.md at this width). */
static inline __attribute__((always_inline)) __u32 tma_spread_column(__u64 hsrc, __u32 row)
{
	return (__u32)((__u32)hsrc + row * (__u32)(hsrc >> 32)) >> (32 - TMA_SPREAD_WIDTH_BITS);
}

#endif /* TMA_SPREAD_H */
