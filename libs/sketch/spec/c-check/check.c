/* Host check of bpf/include/tma_hash.h: reads commands on stdin, prints what the kernel code computes, and the jest
 * spec compares each line with test-vectors.json.
 *   S                                  -> "S <cmsDepth> <cmsWidthBits> <hllP>"
 *   K <k0 hex> ... <k9 hex> <f hex>     sets the hash key (as the loader sets the kernel's), prints nothing
 *   F <src hex32> <dst hex32> <sport> <dport> <proto>
 *        -> "F <flow key hex> <hi> <lo> <cms...> <idx> <rank> | <src hi lo idx rank> | <dst ...> | <dport ...>"
 *   W <n> <w0> ... <wn-1>              -> "W <hi> <lo> <cms...> <idx> <rank>"   (n in 2, 6, 10)
 *   D <hi> <lo>                        -> "D <cms...> <idx> <rank>" */
#include <stdio.h>
#include <string.h>

#include "tma_hash.h"

static __u16 be16(unsigned v)
{
	return (__u16)(((v & 0xff) << 8) | ((v >> 8) & 0xff));
}

static int parse_hex16(const char *s, __u8 out[16])
{
	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		unsigned b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (__u8)b;
	}
	return 0;
}

static void print_derived(__u64 h)
{
	for (__u32 r = 0; r < TMA_CMS_DEPTH; r++)
		printf(" %u", tma_cms_index(h, r));
	printf(" %u %u", tma_hll_index(h), (unsigned)tma_hll_rank(h));
}

static void print_short(__u64 h)
{
	printf(" %08x %08x %u %u", tma_hash_hi(h), tma_hash_lo(h), tma_hll_index(h), (unsigned)tma_hll_rank(h));
}

int main(void)
{
	char cmd[4];
	while (scanf("%3s", cmd) == 1) {
		if (strcmp(cmd, "S") == 0) {
			printf("S %d %d %d\n", TMA_CMS_DEPTH, TMA_CMS_WIDTH_BITS, TMA_HLL_P);
		} else if (strcmp(cmd, "K") == 0) {
			for (int i = 0; i < TMA_HASH_KEY_WORDS; i++)
				if (scanf("%x", &tma_hash_key.k[i]) != 1)
					return 2;
			if (scanf("%llx", &tma_hash_key.f) != 1)
				return 2;
		} else if (strcmp(cmd, "F") == 0) {
			char src[40], dst[40];
			unsigned sport, dport, proto;
			if (scanf("%39s %39s %u %u %u", src, dst, &sport, &dport, &proto) != 5)
				return 2;
			struct tma_flow_key fk;
			struct tma_addr_key sk, dk;
			struct tma_ports_key pk;
			memset(&fk, 0, sizeof(fk));
			memset(&sk, 0, sizeof(sk));
			memset(&dk, 0, sizeof(dk));
			memset(&pk, 0, sizeof(pk));
			if (parse_hex16(src, fk.src) || parse_hex16(dst, fk.dst))
				return 2;
			fk.sport = be16(sport);
			fk.dport = be16(dport);
			fk.proto = (__u8)proto;
			fk.domain = TMA_DOMAIN_FLOW;
			memcpy(sk.addr, fk.src, 16);
			sk.domain = TMA_DOMAIN_SRC;
			memcpy(dk.addr, fk.dst, 16);
			dk.domain = TMA_DOMAIN_DST;
			pk.dport = fk.dport;
			pk.proto = fk.proto;
			pk.domain = TMA_DOMAIN_PORTS;

			printf("F ");
			for (unsigned i = 0; i < sizeof(fk); i++)
				printf("%02x", ((const __u8 *)&fk)[i]);
			__u64 h = tma_hash_flow(&fk);
			printf(" %08x %08x", tma_hash_hi(h), tma_hash_lo(h));
			print_derived(h);
			printf(" |");
			print_short(tma_hash_addr(&sk));
			printf(" |");
			print_short(tma_hash_addr(&dk));
			printf(" |");
			print_short(tma_hash_ports(&pk));
			printf("\n");
		} else if (strcmp(cmd, "W") == 0) {
			unsigned n;
			__u32 w[10];
			if (scanf("%u", &n) != 1 || (n != 2 && n != 6 && n != 10))
				return 2;
			for (unsigned i = 0; i < n; i++)
				if (scanf("%x", &w[i]) != 1)
					return 2;
			__u64 h = n == 2 ? tma_hash2(w) : n == 6 ? tma_hash6(w) : tma_hash10(w);
			printf("W %08x %08x", tma_hash_hi(h), tma_hash_lo(h));
			print_derived(h);
			printf("\n");
		} else if (strcmp(cmd, "P") == 0) {
			unsigned lo, hi, meta;
			if (scanf("%x %x %x", &lo, &hi, &meta) != 3)
				return 2;
			__u64 h = tma_hash_prefix(lo, hi, meta);
			printf("P %08x %08x %u\n", tma_hash_hi(h), tma_hash_lo(h), tma_hash_hi(h) >> (32 - 6));
		} else if (strcmp(cmd, "D") == 0) {
			unsigned hi, lo;
			if (scanf("%x %x", &hi, &lo) != 2)
				return 2;
			printf("D");
			print_derived(((__u64)hi << 32) | lo);
			printf("\n");
		} else {
			return 2;
		}
	}
	return 0;
}
