// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Receiver pps baselines: programs that return at once, so the benchmark can tell a hook's own cost (veth's XDP
 * mode, the tcx dispatch) from the TMA program's. Plain types: no kernel headers needed. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int pps_noop_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int pps_noop_tc(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC: what the next program or the default says; TCX_NEXT for tcx */
}
