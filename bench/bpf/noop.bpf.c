// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Baselines for the benchmarks: programs that return at once, to subtract the test runner's own cost
 * (bench/bpf) and to tell a hook's own cost, veth's XDP mode or the tcx dispatch, from the TMA program's (bench/pps). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int noop_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int noop_tc(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC: what the next program or the default says; TCX_NEXT for tcx */
}
