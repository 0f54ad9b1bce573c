/* Layouts shared by the kernel program and user space (the agent reads map values with exactly these layouts;
 * libs/kernel/src/layout.ts mirrors them and its spec checks that against the object's BTF). No kernel includes here. */
#ifndef TMA_TYPES_H
#define TMA_TYPES_H

#include "tma_spec.h"
#include "tma_hash.h"	/* struct tma_flow_key / tma_addr_key / tma_ports_key: the canonical hashed keys */
#include "tma_spread.h" /* struct tma_spread: per-source spreads */

/* Every sketch exists twice; tma_ctl.epoch selects the copy the kernel writes, user space reads the other. */
#define TMA_COPIES 2

/* CPUs tma_state covers when the loader does not size it (the agent sizes it to the possible CPUs). */
#define TMA_STATE_CPUS_DEFAULT 16

/* Malformations by reason (index of tma_state.errors). Most mean the frame was not counted in the sketches
 * (error_packets); TMA_ERR_TCP_HDR and TMA_ERR_TCP_TRUNC are counted here and the frame is still keyed by its ports,
 * as independent dissectors do. */
enum tma_err {
	TMA_ERR_ETH_TRUNC = 0,	    /* shorter than an Ethernet header */
	TMA_ERR_VLAN_TRUNC = 1,	    /* VLAN tag cut off */
	TMA_ERR_VLAN_DEPTH = 2,	    /* more than two VLAN tags */
	TMA_ERR_IPV4_TRUNC = 3,	    /* IPv4 header (with options) cut off */
	TMA_ERR_IPV4_HDR = 4,	    /* version != 4, IHL < 5 or total length < header length */
	TMA_ERR_IPV6_TRUNC = 5,	    /* fixed IPv6 header cut off */
	TMA_ERR_IPV6_HDR = 6,	    /* version != 6 */
	TMA_ERR_IPV6_EXT_TRUNC = 7, /* extension header cut off */
	TMA_ERR_IPV6_EXT_DEPTH = 8, /* more extension headers than the parser follows */
	TMA_ERR_L4_TRUNC = 9,	    /* TCP/UDP/UDP-Lite/SCTP/DCCP/ICMP/ICMPv6 header cut off */
	TMA_ERR_TCP_HDR = 10,	    /* TCP data offset < 5 (keyed by its ports) */
	TMA_ERR_NONLINEAR = 11,	    /* TC: headers not in linear data and the pull failed */
	TMA_ERR_TCP_TRUNC = 12,	    /* TCP header cut off after the ports (keyed by its ports) */
	TMA_ERR__COUNT = 13,
};

/* CMS cell: packets and bytes side by side, so the one column a row's hash selects updates both in one cache line
 * (cells are 16 bytes and the CMS starts 64-byte aligned: a cell never straddles two lines). Flat cell
 * c = row * TMA_CMS_WIDTH + column, row-major as SPEC.md. */
struct tma_cms_cell {
	__u64 packets;
	__u64 bytes;
};

struct tma_hll {
	__u8 reg[TMA_HLL_M];
};

/* Candidate heavy hitters: TMA_CAND_SETS sets of TMA_CAND_WAYS ways; set = low bits of the flow hash's lo word. A way
 * is empty when packets == 0. packets/bytes start at the flow's CMS estimate on this CPU when it enters and then
 * count every later packet exactly, in place of the CMS and the HLLs (the fast path of heavy flows): the CMS cells of
 * a member lack (packets, bytes) - its base until user space, or an eviction, folds the difference in.
 * Laid out by field, not by way: the four hashes and packet counts share the set's first cache line, so a packet of
 * a flow that is not a member (every packet of a flood of new flows) reads one line of the set, not four. */
struct tma_cand_set {
	__u64 hash[TMA_CAND_WAYS];
	__u64 packets[TMA_CAND_WAYS];
	__u64 bytes[TMA_CAND_WAYS];
	struct tma_flow_key key[TMA_CAND_WAYS];
};

/* A way's counts when its flow entered (its CMS estimate then), at cand_base[set * TMA_CAND_WAYS + way]: kept apart
 * from the ways, since only inserts, evictions and user space touch them. */
struct tma_cand_base {
	__u64 packets;
	__u64 bytes;
};

/* Packets and bytes of one transport protocol side by side: one cache line per packet, not two. */
struct tma_proto_count {
	__u64 packets;
	__u64 bytes;
};

/* Counters of one copy on one CPU. Invariants per copy, summed over CPUs:
 * packets = sum(proto[].packets) + non_ip_packets + error_packets (and the same for bytes), and the packets (bytes)
 * that updated the sketches = the sum of any one CMS row's packets (bytes) cells (= sum(proto[].packets) when
 * sample_rate = 1). Kept to per-packet essentials: every counter here costs each packet a memory update. */
struct tma_totals {
	__u64 packets;	      /* every frame the program ran on; a TC GSO/GRO skb counts its segments */
	__u64 bytes;	      /* wire bytes from the link header on (docs/bpf.md: what a GSO skb adds) */
	__u64 non_ip_packets; /* well-formed frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...) */
	__u64 non_ip_bytes;
	__u64 error_packets; /* malformed/truncated: also counted by reason in tma_errors */
	__u64 error_bytes;
	__u64 cand_inserts;   /* flows that entered the candidate table */
	__u64 cand_evictions; /* inserts that replaced another flow */
	__u64 pulls;	      /* TC: headers made linear with bpf_skb_pull_data */
	__u64 rng;	      /* sampling only: this CPU's xorshift64 state (seeded when 0) */
	/* What the candidate table let go (docs/bpf.md: bounds): the since-entry counts of evicted ways, and the
	 * largest count a flow left out of the table could have had when it was let go (an evicted way's count, or the
	 * CMS estimate of a flow refused because every way of its set counted more). */
	__u64 cand_evicted_packets;
	__u64 cand_evicted_bytes;
	__u64 cand_dropped_max_packets;
	__u64 cand_dropped_max_bytes;
	__u64 reserved[2];
	struct tma_proto_count proto[TMA_PROTOCOLS]; /* IP packets by transport protocol (after IPv6 ext. headers) */
};

/* Packets and bytes one interface carried in one direction (tma_state.ifc[slot * 2 + direction]). */
struct tma_if_count {
	__u64 packets;
	__u64 bytes;
};

enum tma_direction {
	TMA_DIR_INGRESS = 0,
	TMA_DIR_EGRESS = 1,
};

/* Interfaces counted apart: slots 1..TMA_IF_SLOTS-1 are assigned by user space per attached interface; slot 0 counts
 * every interface without one (overflow, or an interface user space did not register). */
#define TMA_IF_SLOTS 64
/* tma_ifs: direct-mapped by ifindex & (TMA_IF_TABLE - 1); an entry names the ifindex it belongs to, so two
 * interfaces whose ifindexes collide cannot share a slot (the second one is counted in slot 0). */
#define TMA_IF_TABLE 256

struct tma_if_slot {
	__u32 ifindex;
	__u32 slot;
};

/* Slots for the error counters by reason (TMA_ERR__COUNT used, the rest keep the state 64-byte aligned). */
#define TMA_ERR_SLOTS 16

/* Heavy prefixes: per (side, family, level) a table of TMA_PFX_SETS sets of TMA_PFX_WAYS ways, each set a Space-Saving
 * summary of the prefixes that hash to it (docs/bpf.md, "Heavy prefixes"). Levels: IPv4 /8 /16 /24, IPv6 /32 /48 /64;
 * table = side * 6 + (IPv6 ? 3 : 0) + level. A way is empty when packets == 0. A prefix not in its set arrives with
 * weight w and replaces the way with the fewest packets: it starts at that way's count + w (base_packets = that count)
 * and at the set's evicted_bytes + its bytes, so packets/bytes bound the prefix's traffic from above and
 * packets - base_packets / bytes - base_bytes (counted since it entered) from below; a prefix the set does not list
 * had at most the set's smallest packets and its evicted_bytes. The prefix is the address's leading 64 bits, masked,
 * as two little-endian words (IPv4: the 4 address bytes in the low word). */
#define TMA_PFX_LEVELS	  3
#define TMA_PFX_TABLES	  12
#define TMA_PFX_SET_BITS  6
#define TMA_PFX_SETS	  (1 << TMA_PFX_SET_BITS)
#define TMA_PFX_WAYS	  4
#define TMA_DOMAIN_PREFIX 4 /* domain byte of the prefix key (tma_pfx_hash) */

struct tma_pfx_set {
	__u64 prefix[TMA_PFX_WAYS];
	__u64 packets[TMA_PFX_WAYS];
	__u64 bytes[TMA_PFX_WAYS];
	__u64 base_packets[TMA_PFX_WAYS];
	__u64 base_bytes[TMA_PFX_WAYS];
	__u64 evicted_bytes; /* largest bytes count of a way this set replaced */
	__u64 pad[3];
};

/* Everything one CPU writes for one copy, in one value of the tma_state array (key = cpu * TMA_COPIES + copy):
 * a packet costs one map lookup (the epoch is read by address) whatever it updates. Members are 64-byte multiples, so
 * entries of different CPUs never share a cache line. User space reads it through an mmap of tma_state. */
struct tma_state {
	struct tma_totals totals;
	__u64 errors[TMA_ERR_SLOTS]; /* by enum tma_err */
	struct tma_cms_cell cms[TMA_CMS_CELLS];
	struct tma_hll hll[TMA_HLL_KINDS];
	struct tma_cand_set cand[TMA_CAND_SETS];
	struct tma_cand_base cand_base[TMA_CAND_SLOTS];
	struct tma_if_count ifc[TMA_IF_SLOTS * 2]; /* by interface slot and enum tma_direction */
	struct tma_spread spread; /* per-source distinct destinations and ports (include/tma_spread.h) */
	struct tma_pfx_set pfx[TMA_PFX_TABLES * TMA_PFX_SETS]; /* heavy prefixes, by table and set */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct tma_totals) % 64 == 0, "totals keep the state's members line-aligned");
_Static_assert(sizeof(struct tma_cand_set) % 64 == 0, "a set's tags sit in one line");
_Static_assert(sizeof(struct tma_state) % 64 == 0, "CPUs' entries never share a cache line");
_Static_assert(TMA_ERR__COUNT <= TMA_ERR_SLOTS, "error slots");
_Static_assert(sizeof(struct tma_pfx_set) % 64 == 0, "prefix sets are whole cache lines");

/* SYN-flood counters (docs/threats.md: syn-flood), kept apart from tma_state in tma_syn. Per server address, TCP
 * packets by flag class: SYN without ACK and ACK without SYN/RST keyed by the destination, SYN-ACK and RST keyed by the
 * source (the server's answers), in a Count-Min sketch of TMA_SYN_DEPTH rows of TMA_SYN_WIDTH cells; every class of
 * one address sits in one 16-byte cell, so a packet touches one line per row. The address hash is the destination
 * HLL's (address key, domain TMA_DOMAIN_DST, the deployment's keyed hash); column = (lo + row * hi) >> (32 - bits). */
#define TMA_SYN_DEPTH	   2
#define TMA_SYN_WIDTH_BITS 9
#define TMA_SYN_WIDTH	   (1 << TMA_SYN_WIDTH_BITS)
/* Candidate destinations: direct-mapped by the address hash's lo word; a SYN whose estimate reaches TMA_SYN_CAND_MIN
 * takes its slot when the slot is empty, already its own, or holds an address with a smaller estimate. */
#define TMA_SYN_CANDS	 64
#define TMA_SYN_CAND_MIN 16

enum tma_syn_class {
	TMA_SYN_SYN = 0,    /* SYN without ACK, to the address */
	TMA_SYN_SYNACK = 1, /* SYN-ACK from the address */
	TMA_SYN_RST = 2,    /* RST from the address */
	TMA_SYN_ACK = 3,    /* ACK without SYN or RST, to the address */
	TMA_SYN_CLASSES = 4,
};

struct tma_syn_cell {
	__u32 c[TMA_SYN_CLASSES]; /* by enum tma_syn_class */
};

struct tma_syn_cand {
	__u64 hash; /* 0: empty */
	__u8 addr[16];
	__u32 syn; /* the SYN estimate on this CPU when last seen */
	__u32 pad;
};

/* One CPU's SYN counters for one copy (tma_syn key = cpu * TMA_COPIES + copy, as tma_state). */
struct tma_syn_state {
	struct tma_syn_cell cms[TMA_SYN_DEPTH * TMA_SYN_WIDTH];
	struct tma_syn_cand cand[TMA_SYN_CANDS];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct tma_syn_state) % 64 == 0, "CPUs' SYN entries never share a cache line");

/* Control written by user space (tma_ctl key 0). The agent flips epoch, waits for programs in flight, then reads
 * and clears copy ((epoch - 1) & 1). epoch counts flips (a generation): pinned maps adopted by a next agent tell
 * which generation each copy holds. */
struct tma_ctl {
	__u32 epoch; /* generation; the kernel writes copy (epoch & 1) */
	__u32 pad;
};

/* A CMS cell holds, besides its own flows, about N / width packets of others (N = IP packets in the copy on this
 * CPU): a flow only stands out once its estimate clears that floor. With shift 1 (TMA_CAND_NOISE_SHIFT_DEFAULT, from
 * the spec) the candidate threshold is at least twice the mean noise, so uniform traffic over many flows does not
 * churn the candidate table. */

/* Load-time knobs: the one variable in .rodata, set before load (bpf_map__set_initial_value on ".rodata"). */
struct tma_cfg {
	__u32 sample_rate; /* 1 = every packet updates the sketches; N = one in N on average */
	__u32 trace;	   /* tests only: record each packet's parse result in tma_trace */
	__u64 cand_threshold; /* minimum CMS packet estimate (this CPU, this epoch) at which a flow enters the candidates */
	__u32 cand_noise_shift; /* the threshold is at least (IP packets in this copy on this CPU >> CMS width bits) << this */
	__u32 tunnels;		/* enum tma_tunnels: key VXLAN/Geneve/GRE packets by their outer or inner header */
};

enum tma_tunnels {
	TMA_TUNNELS_OUTER = 0,
	TMA_TUNNELS_INNER = 1,
};

/* Tests only (cfg.trace): the last packet's parse result. */
enum tma_trace_kind {
	TMA_TRACE_FLOW = 0,
	TMA_TRACE_NON_IP = 1,
	TMA_TRACE_ERROR = 2,
};

struct tma_trace {
	__u64 seq;
	struct tma_flow_key key;
	__u64 hash;
	__u32 kind;
	__u32 err;
	__u32 bytes;
	__u32 pad;
};

#endif /* TMA_TYPES_H */
