// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Attaches programs of a BPF object to one interface with links, as the agent does (tcx ingress and egress, or XDP
 * native), prints "attached" and holds the links until stdin closes or a signal arrives: links die with the process,
 * so nothing outlives the benchmark. libbpf 1.1 has no tcx helper, hence bpf_link_create with the raw attach types.
 *
 *   pps-attach OBJ tcx|xdp PROG [PROG_EGRESS] IFNAME
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define ATTACH_XDP	   37 /* BPF_XDP */
#define ATTACH_TCX_INGRESS 46 /* BPF_TCX_INGRESS (kernel 6.6+; not in older uapi headers) */
#define ATTACH_TCX_EGRESS  47
#define XDP_FLAGS_DRV_MODE (1U << 2)

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int link_prog(struct bpf_object *obj, const char *name, int ifindex, int type, unsigned flags)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (!p) {
		fprintf(stderr, "pps-attach: no program %s\n", name);
		return -1;
	}
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd = bpf_link_create(bpf_program__fd(p), ifindex, type, &opts);
	if (fd < 0)
		fprintf(stderr, "pps-attach: link %s: %s\n", name, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s OBJ tcx|xdp PROG [PROG_EGRESS] IFNAME\n", argv[0]);
		return 2;
	}
	const char *ifname = argv[argc - 1];
	int ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "pps-attach: no interface %s\n", ifname);
		return 1;
	}
	int tcx = strcmp(argv[2], "tcx") == 0;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "pps-attach: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* load only the programs asked for: objects hold programs of both hooks */
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj)
	{
		const char *n = bpf_program__name(p);
		int want = strcmp(n, argv[3]) == 0 || (argc == 6 && strcmp(n, argv[4]) == 0);
		bpf_program__set_autoload(p, want);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "pps-attach: load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int rc = 0;
	if (tcx) {
		const char *egress = argc == 6 ? argv[4] : argv[3];
		if (link_prog(obj, argv[3], ifindex, ATTACH_TCX_INGRESS, 0) < 0 ||
		    link_prog(obj, egress, ifindex, ATTACH_TCX_EGRESS, 0) < 0)
			rc = 1;
	} else if (link_prog(obj, argv[3], ifindex, ATTACH_XDP, XDP_FLAGS_DRV_MODE) < 0) {
		rc = 1;
	}
	if (rc)
		return rc;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("attached\n");
	fflush(stdout);
	char buf[64];
	while (!stop && read(0, buf, sizeof(buf)) > 0)
		;
	bpf_object__close(obj);
	return 0;
}
