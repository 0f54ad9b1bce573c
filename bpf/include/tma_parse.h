/* The one packet parser: Ethernet, up to two 802.1Q/802.1ad tags, IPv4 (options, fragments), IPv6 (extension
 * headers, fragments), then ports for TCP/UDP/UDP-Lite/SCTP/DCCP and type/code for ICMP/ICMPv6 (SPEC.md key layout).
 * It only reads: it fills the canonical flow key or names the reason the frame is malformed. */
#ifndef TMA_PARSE_H
#define TMA_PARSE_H

#include "tma_types.h"

#define TMA_ETH_HLEN	     14
#define TMA_ETH_P_IP	     0x0800
#define TMA_ETH_P_IPV6	     0x86DD
#define TMA_ETH_P_8021Q	     0x8100
#define TMA_ETH_P_8021AD     0x88A8
#define TMA_ETH_P_QINQ1	     0x9100 /* pre-standard QinQ outer tag, still seen in the wild */
#define TMA_VLAN_MAX	     2
#define TMA_IPV6_EXT_MAX     8 /* extension headers followed before giving up (RFC 8200 chains are short) */

#define TMA_IPPROTO_HOPOPTS  0
#define TMA_IPPROTO_ICMP     1
#define TMA_IPPROTO_TCP	     6
#define TMA_IPPROTO_DCCP     33
#define TMA_IPPROTO_ROUTING  43
#define TMA_IPPROTO_FRAGMENT 44
#define TMA_IPPROTO_AH	     51
#define TMA_IPPROTO_ICMPV6   58
#define TMA_IPPROTO_DSTOPTS  60
#define TMA_IPPROTO_UDP	     17
#define TMA_IPPROTO_MH	     135
#define TMA_IPPROTO_SCTP     132
#define TMA_IPPROTO_UDPLITE  136

enum tma_parse_result {
	TMA_PARSE_FLOW = 0,
	TMA_PARSE_NON_IP = 1,
	TMA_PARSE_ERROR = 2,
	TMA_PARSE_FLOW_MALFORMED = 3, /* keyed (by its ports), and the malformation counted by reason in *err */
};

struct tma_vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct tma_ip6_ext {
	__u8 nexthdr;
	__u8 len;
};

struct tma_ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

static __always_inline int tma_is_vlan(__be16 proto)
{
	return proto == bpf_htons(TMA_ETH_P_8021Q) || proto == bpf_htons(TMA_ETH_P_8021AD) ||
	       proto == bpf_htons(TMA_ETH_P_QINQ1);
}

/* Ports or ICMP type/code of transport protocol `proto` at l4, whose start goes to *l4p (the GSO header length and
 * the tunnel decoder need it). Protocols without ports keep 0/0. A TCP header cut off after its ports, or with a data
 * offset below 5, is keyed by its ports and named by reason (TMA_PARSE_FLOW_MALFORMED). */
static __always_inline int tma_parse_l4(void *l4, void *end, __u8 proto, struct tma_flow_key *k, __u32 *err, void **l4p)
{
	__u8 *b = l4;

	*l4p = l4;
	switch (proto) {
	case TMA_IPPROTO_TCP:
		if (l4 + 4 > end)
			goto trunc;
		k->sport = *(__u16 *)l4;
		k->dport = *(__u16 *)(l4 + 2);
		if (l4 + 20 > end) {
			*err = TMA_ERR_TCP_TRUNC;
			return TMA_PARSE_FLOW_MALFORMED;
		}
		if ((b[12] >> 4) < 5) {
			*err = TMA_ERR_TCP_HDR;
			return TMA_PARSE_FLOW_MALFORMED;
		}
		return TMA_PARSE_FLOW;
	case TMA_IPPROTO_UDP:
	case TMA_IPPROTO_UDPLITE:
		if (l4 + 8 > end)
			goto trunc;
		break;
	case TMA_IPPROTO_SCTP:
	case TMA_IPPROTO_DCCP:
		if (l4 + 12 > end)
			goto trunc;
		break;
	case TMA_IPPROTO_ICMP:
	case TMA_IPPROTO_ICMPV6:
		if (l4 + 4 > end)
			goto trunc;
		/* type into the source port, code into the destination port, each a big-endian u16 */
		k->sport = bpf_htons((__u16)b[0]);
		k->dport = bpf_htons((__u16)b[1]);
		return TMA_PARSE_FLOW;
	default:
		return TMA_PARSE_FLOW;
	}
	/* ports exactly as on the wire */
	k->sport = *(__u16 *)l4;
	k->dport = *(__u16 *)(l4 + 2);
	return TMA_PARSE_FLOW;
trunc:
	*err = TMA_ERR_L4_TRUNC;
	return TMA_PARSE_ERROR;
}

static __always_inline int tma_parse_ipv4(void *p, void *end, struct tma_flow_key *k, __u32 *err, void **l4p)
{
	struct iphdr *ip = p;
	__u32 hlen;
	__u8 vhl;

	if (p + sizeof(*ip) > end) {
		*err = TMA_ERR_IPV4_TRUNC;
		return TMA_PARSE_ERROR;
	}
	vhl = *(__u8 *)p;
	/* total length is not checked: GSO packets at TC egress (BIG TCP) carry 0 there */
	if ((vhl >> 4) != 4 || (vhl & 0xf) < 5) {
		*err = TMA_ERR_IPV4_HDR;
		return TMA_PARSE_ERROR;
	}
	hlen = (vhl & 0xf) * 4;
	if (p + hlen > end) {
		*err = TMA_ERR_IPV4_TRUNC;
		return TMA_PARSE_ERROR;
	}
	/* IPv4-mapped IPv6: bytes 10..11 = 0xff, 12..15 = the address */
	((__u32 *)k->src)[2] = bpf_htonl(0x0000ffff);
	((__u32 *)k->src)[3] = ip->saddr;
	((__u32 *)k->dst)[2] = bpf_htonl(0x0000ffff);
	((__u32 *)k->dst)[3] = ip->daddr;
	k->proto = ip->protocol;
	/* later fragments carry no transport header: ports stay 0 */
	if (ip->frag_off & bpf_htons(0x1fff))
		return TMA_PARSE_FLOW;
	return tma_parse_l4(p + hlen, end, k->proto, k, err, l4p);
}

static __always_inline int tma_parse_ipv6(void *p, void *end, struct tma_flow_key *k, __u32 *err, void **l4p)
{
	struct ipv6hdr *ip6 = p;
	__u8 nexthdr;
	int i;

	if (p + sizeof(*ip6) > end) {
		*err = TMA_ERR_IPV6_TRUNC;
		return TMA_PARSE_ERROR;
	}
	if ((*(__u8 *)p >> 4) != 6) {
		*err = TMA_ERR_IPV6_HDR;
		return TMA_PARSE_ERROR;
	}
	__builtin_memcpy(k->src, &ip6->saddr, 16);
	__builtin_memcpy(k->dst, &ip6->daddr, 16);
	nexthdr = ip6->nexthdr;
	p += sizeof(*ip6);

	for (i = 0; i < TMA_IPV6_EXT_MAX; i++) {
		struct tma_ip6_ext *ext = p;
		__u32 len;

		switch (nexthdr) {
		case TMA_IPPROTO_HOPOPTS:
		case TMA_IPPROTO_ROUTING:
		case TMA_IPPROTO_DSTOPTS:
		case TMA_IPPROTO_MH:
			if (p + sizeof(*ext) > end)
				goto trunc;
			len = ((__u32)ext->len + 1) * 8;
			break;
		case TMA_IPPROTO_AH:
			if (p + sizeof(*ext) > end)
				goto trunc;
			len = ((__u32)ext->len + 2) * 4;
			break;
		case TMA_IPPROTO_FRAGMENT: {
			struct tma_ip6_frag *fh = p;

			if (p + sizeof(*fh) > end)
				goto trunc;
			if (fh->frag_off & bpf_htons(0xfff8)) {
				/* later fragment: transport header is in the first one */
				k->proto = fh->nexthdr;
				return TMA_PARSE_FLOW;
			}
			len = sizeof(*fh);
			break;
		}
		default:
			k->proto = nexthdr;
			return tma_parse_l4(p, end, nexthdr, k, err, l4p);
		}
		if (p + len > end)
			goto trunc;
		nexthdr = ext->nexthdr;
		p += len;
	}
	*err = TMA_ERR_IPV6_EXT_DEPTH;
	return TMA_PARSE_ERROR;
trunc:
	*err = TMA_ERR_IPV6_EXT_TRUNC;
	return TMA_PARSE_ERROR;
}

/* Parses the frame in [data, end) into k (zeroed by the caller): from the Ethernet header, or from the IP header when
 * l3 is set (tun, WireGuard, ipip/sit/gre devices: the version nibble tells IPv4 from IPv6). *l4p gets the start of
 * the transport header when there is one. Inlined (no BPF-to-BPF call and return thunk); the caller keeps k one
 * stack object (TMA_KEEP_IN_MEMORY), else the compiler splits it into scalars and re-zeroes them on every branch (~50
 * dead stores per packet, measured ~10 ns slower). */
#ifndef TMA_PARSE_INLINE
#define TMA_PARSE_INLINE __always_inline
#endif
static TMA_PARSE_INLINE int tma_parse(void *data, void *end, struct tma_flow_key *k, __u32 *err, int l3, void **l4p)
{
	struct ethhdr *eth = data;
	void *p = data + TMA_ETH_HLEN;
	__be16 proto;
	int i;

	if (l3) {
		if (data + 1 > end)
			return TMA_PARSE_NON_IP;
		if ((*(__u8 *)data >> 4) == 4)
			return tma_parse_ipv4(data, end, k, err, l4p);
		if ((*(__u8 *)data >> 4) == 6)
			return tma_parse_ipv6(data, end, k, err, l4p);
		return TMA_PARSE_NON_IP;
	}
	if (p > end) {
		*err = TMA_ERR_ETH_TRUNC;
		return TMA_PARSE_ERROR;
	}
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < TMA_VLAN_MAX; i++) {
		struct tma_vlan_tag *tag = p;

		if (!tma_is_vlan(proto))
			break;
		if (p + sizeof(*tag) > end) {
			*err = TMA_ERR_VLAN_TRUNC;
			return TMA_PARSE_ERROR;
		}
		proto = tag->proto;
		p += sizeof(*tag);
	}
	if (proto == bpf_htons(TMA_ETH_P_IP))
		return tma_parse_ipv4(p, end, k, err, l4p);
	if (proto == bpf_htons(TMA_ETH_P_IPV6))
		return tma_parse_ipv6(p, end, k, err, l4p);
	if (tma_is_vlan(proto)) {
		*err = TMA_ERR_VLAN_DEPTH;
		return TMA_PARSE_ERROR;
	}
	return TMA_PARSE_NON_IP;
}

#define TMA_ETH_P_TEB	0x6558 /* transparent Ethernet bridging: an Ethernet frame follows (gretap, Geneve) */
#define TMA_IPPROTO_GRE 47
#define TMA_VXLAN_PORT	4789
#define TMA_GENEVE_PORT 6081
#define TMA_TUNNEL_HLEN 8 /* VXLAN header; Geneve's fixed part */

/* The packet a VXLAN (UDP 4789), Geneve (UDP 6081) or GRE (version 0) header at l4 carries: its start, and whether
 * it is an Ethernet frame (*l3 = 0) or an IP packet (*l3 = 1). NULL when the packet is not such a tunnel (or its
 * header is cut off). */
static __always_inline void *tma_tunnel_inner(void *l4, void *end, const struct tma_flow_key *k, int *l3)
{
	__u8 *b;
	__u16 proto;

	if (k->proto == TMA_IPPROTO_UDP) {
		b = l4 + 8;
		if ((void *)b + TMA_TUNNEL_HLEN > end)
			return NULL;
		if (k->dport == bpf_htons(TMA_VXLAN_PORT)) {
			*l3 = 0;
			return b + TMA_TUNNEL_HLEN;
		}
		if (k->dport != bpf_htons(TMA_GENEVE_PORT) || (b[0] >> 6) != 0)
			return NULL;
		proto = (__u16)b[2] << 8 | b[3];
		*l3 = proto != TMA_ETH_P_TEB;
		return b + TMA_TUNNEL_HLEN + (b[0] & 0x3f) * 4;
	}
	if (k->proto == TMA_IPPROTO_GRE) {
		__u32 hlen = 4;

		b = l4;
		if ((void *)b + 4 > end || (b[1] & 7) != 0)
			return NULL;
		hlen += (b[0] & 0x80) ? 4 : 0; /* checksum */
		hlen += (b[0] & 0x20) ? 4 : 0; /* key */
		hlen += (b[0] & 0x10) ? 4 : 0; /* sequence number */
		proto = (__u16)b[2] << 8 | b[3];
		if (proto == TMA_ETH_P_TEB)
			*l3 = 0;
		else if (proto == TMA_ETH_P_IP || proto == TMA_ETH_P_IPV6)
			*l3 = 1;
		else
			return NULL;
		return b + hlen;
	}
	return NULL;
}

/* Errors a TC program may cure by pulling paged data into the linear area. */
static __always_inline int tma_err_truncation(__u32 err)
{
	return err == TMA_ERR_ETH_TRUNC || err == TMA_ERR_VLAN_TRUNC || err == TMA_ERR_IPV4_TRUNC ||
	       err == TMA_ERR_IPV6_TRUNC || err == TMA_ERR_IPV6_EXT_TRUNC || err == TMA_ERR_L4_TRUNC;
}

#endif /* TMA_PARSE_H */
