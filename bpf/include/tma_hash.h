/* tma-nh64-v1: the fleet's sketch hash, canonical key layouts and the CMS / HLL index derivations (SPEC.md).
 * Header-only and BPF-safe: no loops, no clz/ctz builtins (clang cannot lower them for BPF), fixed word counts.
 * The same file compiles in host C, where libs/sketch/spec/c-check checks it bit for bit against
 * libs/sketch/spec/test-vectors.json. */
#ifndef TMA_HASH_H
#define TMA_HASH_H

#include "tma_spec.h"

/* BPF programs get __u8..__u64 from vmlinux.h or linux/types.h. On the host, declare them with the kernel's own
 * base types so that a later linux/types.h redeclares the identical type (legal in C11). */
#if !defined(__bpf__) && !defined(__VMLINUX_H__) && !defined(_LINUX_TYPES_H) && !defined(TMA_HAVE_KERNEL_TYPES)
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tma_hash.h reads key words as little-endian u32; big-endian targets need byte swaps here"
#endif

#ifndef TMA_INLINE
#define TMA_INLINE static inline __attribute__((always_inline))
#endif

/* Canonical keys. Zero the whole struct before filling it (padding is hashed).
 * Ports are in network byte order exactly as on the wire; for ICMP/ICMPv6, sport = htons(type), dport = htons(code).
 * IPv4 addresses are stored IPv4-mapped: ten zero bytes, 0xff 0xff, then the four address bytes. */
struct tma_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 domain; /* TMA_DOMAIN_FLOW */
	__u16 pad;
} __attribute__((aligned(4)));

struct tma_addr_key {
	__u8 addr[16];
	__u8 domain; /* TMA_DOMAIN_SRC or TMA_DOMAIN_DST */
	__u8 pad[7];
} __attribute__((aligned(4)));

struct tma_ports_key {
	__u16 dport; /* network byte order */
	__u8 proto;
	__u8 domain; /* TMA_DOMAIN_PORTS */
	__u32 pad;
} __attribute__((aligned(4)));

_Static_assert(sizeof(struct tma_flow_key) == TMA_FLOW_KEY_BYTES, "flow key layout");
_Static_assert(sizeof(struct tma_addr_key) == TMA_ADDR_KEY_BYTES, "address key layout");
_Static_assert(sizeof(struct tma_ports_key) == TMA_PORTS_KEY_BYTES, "ports key layout");

/* The hash key: K words and finaliser F, expanded from the deployment's secret seed in user space (SPEC.md). BPF
 * programs read it from its own read-only section, which the loader fills before load (a load-time value: the
 * verifier sees constants, the object file holds no key); host code fills tma_hash_key itself. */
struct tma_hash_key {
	__u32 k[TMA_HASH_KEY_WORDS];
	__u64 f;
};

#ifdef __bpf__
/* Not const (the compiler would fold the zeros of an initialised const) and not volatile (so a packet loads each
 * key word once, not once per use); the section name makes libbpf map it read-only and freeze it after load. */
struct tma_hash_key tma_hash_key __attribute__((section(".rodata.hash")));
#else
static struct tma_hash_key tma_hash_key;
#endif

#define TMA_HASH_K0 (tma_hash_key.k[0])
#define TMA_HASH_K1 (tma_hash_key.k[1])
#define TMA_HASH_K2 (tma_hash_key.k[2])
#define TMA_HASH_K3 (tma_hash_key.k[3])
#define TMA_HASH_K4 (tma_hash_key.k[4])
#define TMA_HASH_K5 (tma_hash_key.k[5])
#define TMA_HASH_K6 (tma_hash_key.k[6])
#define TMA_HASH_K7 (tma_hash_key.k[7])
#define TMA_HASH_K8 (tma_hash_key.k[8])
#define TMA_HASH_K9 (tma_hash_key.k[9])
#define TMA_HASH_F  (tma_hash_key.f)

/* Word i of a key; memcpy keeps host C free of strict-aliasing issues and compiles to one load. */
TMA_INLINE __u32 tma_word(const void *key, int i)
{
	__u32 w;
	__builtin_memcpy(&w, (const __u8 *)key + 4 * i, 4);
	return w;
}

/* One NH term: the additions wrap at 32 bits, the product is a full 64-bit one. */
TMA_INLINE __u64 tma_nh(__u32 a, __u32 ka, __u32 b, __u32 kb)
{
	return (__u64)(__u32)(a + ka) * (__u64)(__u32)(b + kb);
}

TMA_INLINE __u64 tma_fmix(__u64 acc, __u64 nwords)
{
	__u64 x = acc ^ TMA_HASH_F ^ nwords;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Hashes of 2, 6 and 10 little-endian words: products are independent, so they pipeline. */
TMA_INLINE __u64 tma_hash2(const void *k)
{
	__u64 acc = tma_nh(tma_word(k, 0), TMA_HASH_K0, tma_word(k, 1), TMA_HASH_K1);
	return tma_fmix(acc, 2);
}

TMA_INLINE __u64 tma_hash6(const void *k)
{
	__u64 acc = tma_nh(tma_word(k, 0), TMA_HASH_K0, tma_word(k, 1), TMA_HASH_K1) +
		    tma_nh(tma_word(k, 2), TMA_HASH_K2, tma_word(k, 3), TMA_HASH_K3) +
		    tma_nh(tma_word(k, 4), TMA_HASH_K4, tma_word(k, 5), TMA_HASH_K5);
	return tma_fmix(acc, 6);
}

/* Heavy prefixes: the prefix key is the masked leading 64 bits of the address as two little-endian words (lo: address
 * bytes 0..3, hi: bytes 4..7; IPv4: the 4 address bytes in lo, hi = 0) and meta = length | family << 8 | side << 16 |
 * domain (4) << 24 (length in the family's own bits, family 4 or 6, side 0 source / 1 destination). Its hash is one NH product of the two prefix words, finalised with meta in place of the word count (one
 * multiply fewer per prefix than a 4-word hash, 3 ns a packet over six prefixes); its set in a table of 2^bits sets is
 * the top bits of the high word. */
TMA_INLINE __u64 tma_hash_prefix(__u32 lo, __u32 hi, __u32 meta)
{
	return tma_fmix(tma_nh(lo, TMA_HASH_K0, hi, TMA_HASH_K1), meta);
}

TMA_INLINE __u64 tma_hash10(const void *k)
{
	__u64 acc = tma_nh(tma_word(k, 0), TMA_HASH_K0, tma_word(k, 1), TMA_HASH_K1) +
		    tma_nh(tma_word(k, 2), TMA_HASH_K2, tma_word(k, 3), TMA_HASH_K3) +
		    tma_nh(tma_word(k, 4), TMA_HASH_K4, tma_word(k, 5), TMA_HASH_K5) +
		    tma_nh(tma_word(k, 6), TMA_HASH_K6, tma_word(k, 7), TMA_HASH_K7) +
		    tma_nh(tma_word(k, 8), TMA_HASH_K8, tma_word(k, 9), TMA_HASH_K9);
	return tma_fmix(acc, 10);
}

TMA_INLINE __u64 tma_hash_flow(const struct tma_flow_key *k)
{
	return tma_hash10(k);
}
TMA_INLINE __u64 tma_hash_addr(const struct tma_addr_key *k)
{
	return tma_hash6(k);
}
TMA_INLINE __u64 tma_hash_ports(const struct tma_ports_key *k)
{
	return tma_hash2(k);
}

TMA_INLINE __u32 tma_hash_hi(__u64 h)
{
	return (__u32)(h >> 32);
}
TMA_INLINE __u32 tma_hash_lo(__u64 h)
{
	return (__u32)h;
}

/* Count of leading zeros by binary search (32 for 0). */
TMA_INLINE __u32 tma_clz32(__u32 v)
{
	__u32 n = 0;
	if (v == 0)
		return 32;
	if (!(v & 0xffff0000u)) {
		n += 16;
		v <<= 16;
	}
	if (!(v & 0xff000000u)) {
		n += 8;
		v <<= 8;
	}
	if (!(v & 0xf0000000u)) {
		n += 4;
		v <<= 4;
	}
	if (!(v & 0xc0000000u)) {
		n += 2;
		v <<= 2;
	}
	if (!(v & 0x80000000u)) {
		n += 1;
	}
	return n;
}

/* Column of CMS row `row`; the cell is row * TMA_CMS_WIDTH + column. */
TMA_INLINE __u32 tma_cms_index(__u64 h, __u32 row)
{
	return (__u32)(tma_hash_lo(h) + row * tma_hash_hi(h)) >> (32 - TMA_CMS_WIDTH_BITS);
}

TMA_INLINE __u32 tma_hll_index(__u64 h)
{
	return tma_hash_hi(h) >> (32 - TMA_HLL_P);
}

/* Leading zeros of the 64 - p bits below the index, plus one: 1 .. TMA_HLL_RANK_MAX. */
TMA_INLINE __u8 tma_hll_rank(__u64 h)
{
	__u32 a = tma_hash_hi(h) << TMA_HLL_P;
	__u32 lo = tma_hash_lo(h);
	if (a != 0)
		return (__u8)(tma_clz32(a) + 1);
	if (lo != 0)
		return (__u8)(32 - TMA_HLL_P + tma_clz32(lo) + 1);
	return (__u8)TMA_HLL_RANK_MAX;
}

#endif /* TMA_HASH_H */
