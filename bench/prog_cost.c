// SPDX-License-Identifier: GPL-2.0
/*
 * Per-packet cost of each tc_from_pod / tc_to_pod path, measured with
 * BPF_PROG_RUN (the kernel's own timing of the program), minus the cost of an
 * empty program measured the same way, two ways:
 * - cold: repeat = 1 on a fresh frame each time (what a lone packet costs;
 *   the syscall between runs leaves caches and TLB cold);
 * - warm: one frame run 10^6 times in the kernel. BPF_PROG_RUN reruns the
 *   same buffer, so a rewriting path needs the packet it leaves behind to
 *   take the same path again: for the established and reply paths a second
 *   conntrack entry maps the rewritten tuple back (VIP <-> backend), and the
 *   VIP is made a local endpoint, so every run is a conntrack hit, a DNAT
 *   (or reverse NAT) with port change, and a redirect to a pod. A new flow
 *   cannot be rerun (its first run creates the entries): cold only.
 *
 * xdp_netdev's node-port paths are measured the same way (cold), and the
 * frame every cross-node pod packet is (warm). The empty program subtracted
 * is a TC one; an empty XDP program costs the same within noise.
 *
 * usage: prog_cost [ITERATIONS] [SERVICES] [csv]
 *   SERVICES other services (2 endpoints each) are loaded first; csv prints
 *   "path,ns" lines for bench/run.py instead of the Markdown table. (root)
 */
#include <errno.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <setjmp.h>
#include "../tests/unit/testlib.h"
#include "bpfrun.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 0xa }, mac_b[6] = { 2, 0, 0, 0, 0, 0xb };
static const uint8_t host[6] = { 2, 0, 0, 0, 0, 0xc };

/* The same for an XDP program (no ctx: no FIB lookup on the measured paths). */
static double run_xdp_ns(int prog, const uint8_t *frame, size_t len, int repeat)
{
	uint8_t out[256];
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o)) {
		fprintf(stderr, "BPF_PROG_RUN (xdp): %s\n", strerror(errno));
		exit(1);
	}
	return o.duration;
}

/*
 * xdp_netdev: a node port to a local backend, new flow (two conntrack
 * inserts, DNAT) and established (conntrack hit, DNAT), cold; and the frame
 * every cross-node pod packet is, one to a pod of this node, warm.
 */
static void xdp_paths(const struct kx_maps *m, int xdp, int iters, int big, double *np_new,
		      double *np_est, double *pod_pass)
{
	struct kx_backend_desc b = { ip4("12.0.2.20"), 5001, IPPROTO_TCP, 0 };
	struct kx_svc_desc d = { .key = { KX_VIP_NODEPORT, htons(30080), IPPROTO_TCP,
					  KX_SCOPE_EXTERNAL },
				 .backends = &b, .n_backends = 1 };
	struct kx_config c = { .n_node_addrs = 1, .node_addrs = { ip4("10.124.242.131") } };
	struct kx_syncer *s;
	struct kx_sync_stats st = { 0 };
	struct kx_err err;
	uint32_t zero = 0;
	uint8_t f[128];
	size_t n;

	strcpy(d.owner, "bench/nodeport");
	s = kx_syncer_new(m, &err);
	if (!s || kx_syncer_owner(s, d.owner, &d, 1, &st, &err) ||
	    bpf_map_update_elem(m->config, &zero, &c, BPF_ANY)) {
		fprintf(stderr, "node port setup: %s\n", err.msg);
		exit(1);
	}
	kx_syncer_free(s);
	*np_new = *np_est = 0;
	for (int i = 0; i < iters; i++) {
		uint16_t sport = 10000 + i % 50000;

		n = build_l4(f, host, mac_a, IPPROTO_TCP, "10.124.242.200", sport, "10.124.242.131",
			     30080, 0x02, NULL);
		*np_new += run_xdp_ns(xdp, f, n, 1);
		n = build_l4(f, host, mac_a, IPPROTO_TCP, "10.124.242.200", sport, "10.124.242.131",
			     30080, 0x10, NULL);
		*np_est += run_xdp_ns(xdp, f, n, 1);
	}
	*np_new /= iters;
	*np_est /= iters;
	n = build_l4(f, host, mac_a, IPPROTO_TCP, "12.0.1.93", 5001, "12.0.2.10", 40000, 0x10, NULL);
	*pod_pass = run_xdp_ns(xdp, f, n, big);
}

static void endpoint(int fd, const char *ip, const uint8_t *mac)
{
	struct kx_endpoint ep = { .addr = ip4(ip), .ifindex = 1 };
	struct kx_err err;

	memcpy(ep.pod_mac, mac, 6);
	memcpy(ep.host_mac, host, 6);
	if (kx_endpoint_put(fd, &ep, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
}

/* n other services (2 backends each) into the maps, beside the measured one. */
static int load_fillers(const struct kx_maps *m, const struct kx_svc_desc *measured, int n)
{
	struct kx_svc_desc *d = calloc(n + 1, sizeof(*d));
	struct kx_backend_desc *b = calloc(2 * (size_t)n + 1, sizeof(*b));
	struct kx_table t = { .svcs = d, .n_svcs = n + 1 };
	struct kx_err err;
	int ret;

	if (!d || !b)
		return -1;
	for (int i = 0; i < n; i++) {
		d[i].key = (struct kx_svc_key){ htonl(0x0a600000u + i), htons(80), IPPROTO_TCP, 0 };
		snprintf(d[i].owner, sizeof(d[i].owner), "bench/f%d", i);
		snprintf(d[i].name, sizeof(d[i].name), "bench/f%d", i);
		for (int j = 0; j < 2; j++)
			b[2 * i + j] = (struct kx_backend_desc){ htonl(0x0ac80000u + 2 * i + j), 8080,
							       IPPROTO_TCP, 0 };
		d[i].backends = &b[2 * i];
		d[i].n_backends = 2;
	}
	d[n] = *measured;
	ret = kx_sync_apply(m, &t, NULL, &err);
	if (ret)
		fprintf(stderr, "fillers: %s\n", err.msg);
	free(d);
	free(b);
	return ret;
}

/* A conntrack entry for key -> nat_addr:nat_port in direction dir. */
static void ct_put(int fd, const char *sa, uint16_t sp, const char *da, uint16_t dp,
		   const char *nat, uint16_t nat_port, uint8_t dir)
{
	struct kx_ct_key k = { ip4(sa), ip4(da), htons(sp), htons(dp), IPPROTO_TCP, { 0 } };
	struct kx_ct_val v = { .nat_addr = ip4(nat), .nat_port = htons(nat_port), .dir = dir,
			       .svc_id = 1, .backend_id = 1 };

	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY)) {
		fprintf(stderr, "conntrack entry: %s\n", strerror(errno));
		exit(1);
	}
}

/* Warm cost of the established and reply paths (see the top of the file). */
static void warm_ct_paths(const struct kx_maps *m, int from, int big, double *est, double *rev)
{
	uint8_t f[128];
	size_t n;

	endpoint(m->endpoints, "12.0.182.73", mac_b); /* the VIP, so both tuples deliver */
	ct_put(m->ct, "12.0.2.10", 40000, "12.0.182.73", 5432, "12.0.2.30", 5001, KX_CT_FORWARD);
	ct_put(m->ct, "12.0.2.10", 40000, "12.0.2.30", 5001, "12.0.182.73", 5432, KX_CT_FORWARD);
	n = build_l4(f, host, mac_a, IPPROTO_TCP, "12.0.2.10", 40000, "12.0.182.73", 5432, 0x10,
		     NULL);
	*est = run_ns(from, f, n, big);
	ct_put(m->ct, "12.0.2.30", 5001, "12.0.2.10", 40000, "12.0.182.73", 5432, KX_CT_REPLY);
	ct_put(m->ct, "12.0.182.73", 5432, "12.0.2.10", 40000, "12.0.2.30", 5001, KX_CT_REPLY);
	n = build_l4(f, host, mac_b, IPPROTO_TCP, "12.0.2.30", 5001, "12.0.2.10", 40000, 0x10,
		     NULL);
	*rev = run_ns(from, f, n, big);
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20000, big = 1000000;
	int fillers = argc > 2 ? atoi(argv[2]) : 0;
	bool csv = argc > 3 && !strcmp(argv[3], "csv");
	struct kx_backend_desc b[2] = { { 0, 5001, IPPROTO_TCP, 0 }, { 0, 5001, IPPROTO_TCP, 0 } };
	struct kx_svc_desc d = { .key = { 0, htons(5432), IPPROTO_TCP, KX_SCOPE_INTERNAL },
				 .backends = b, .n_backends = 2 };
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };
	struct kxdp *skel = kxdp__open_and_load();
	double redir1 = 0, empty, empty1 = 0, pass, pass1 = 0, redir, newf = 0, est = 0, rev = 0;
	double to_pod, est_warm, rev_warm, np_new, np_est, xdp_pod, netdev_out;
	struct kx_maps m;
	struct kx_err err;
	uint8_t f[128];
	size_t n;

	if (!skel) {
		fprintf(stderr, "load kxdp: %s (run as root)\n", strerror(errno));
		return 1;
	}
	if (kx_maps_from_object(skel->obj, &m, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	d.key.vip = ip4("12.0.182.73");
	b[0].addr = ip4("12.0.2.20");
	b[1].addr = ip4("12.0.2.30");
	strcpy(d.owner, "bench/measured");
	if (fillers ? load_fillers(&m, &d, fillers) : kx_sync_apply(&m, &t, NULL, &err)) {
		fprintf(stderr, "sync: %s\n", err.msg);
		return 1;
	}
	endpoint(m.endpoints, "12.0.2.10", mac_a);
	endpoint(m.endpoints, "12.0.2.20", mac_b);
	endpoint(m.endpoints, "12.0.2.30", mac_b);
	int from = bpf_program__fd(skel->progs.tc_from_pod);
	int to = bpf_program__fd(skel->progs.tc_to_pod);

	n = build_l4(f, host, mac_a, IPPROTO_TCP, "12.0.2.10", 1000, "12.0.2.30", 80, 0x10, NULL);
	int empty_fd = empty_prog();

	empty = run_ns(empty_fd, f, n, big);
	for (int i = 0; i < iters; i++)
		empty1 += run_ns(empty_fd, f, n, 1);
	empty1 /= iters;
	for (int i = 0; i < iters; i++)
		redir1 += run_ns(from, f, n, 1);
	redir1 /= iters;
	redir = run_ns(from, f, n, big);
	put16(f + 12, 0x86dd);
	pass = run_ns(from, f, n, big);
	for (int i = 0; i < iters; i++)
		pass1 += run_ns(from, f, n, 1);
	pass1 /= iters;
	for (int i = 0; i < iters; i++) {
		uint16_t sport = 10000 + i % 50000;

		n = build_l4(f, host, mac_a, IPPROTO_TCP, "12.0.2.10", sport, "12.0.182.73", 5432,
			     0x02, NULL);
		newf += run_ns(from, f, n, 1);
		n = build_l4(f, host, mac_a, IPPROTO_TCP, "12.0.2.10", sport, "12.0.182.73", 5432,
			     0x10, NULL);
		est += run_ns(from, f, n, 1);
		n = build_l4(f, host, mac_b, IPPROTO_TCP, i % 2 ? "12.0.2.30" : "12.0.2.20", 5001,
			     "12.0.2.10", sport, 0x10, NULL);
		rev += run_ns(from, f, n, 1);
	}
	n = build_l4(f, host, mac_a, IPPROTO_TCP, "10.1.1.1", 22, "12.0.2.10", 1000, 0x10, NULL);
	to_pod = run_ns(to, f, n, big);
	/* a packet of a node socket on the uplink's egress, no reply of a flow: the
	 * test run gives every skb a socket, so the forwarded path (no socket: one
	 * load and out) cannot be run here */
	netdev_out = run_ns(bpf_program__fd(skel->progs.tc_netdev_out), f, n, big);
	warm_ct_paths(&m, from, big, &est_warm, &rev_warm);
	xdp_paths(&m, bpf_program__fd(skel->progs.xdp_netdev), iters, big, &np_new, &np_est,
		  &xdp_pod);
	if (csv) {
		printf("new_flow,%.1f\nestablished,%.1f\nreverse_nat,%.1f\nlocal_redirect,%.1f\n"
		       "pass_through,%.1f\nestablished_warm,%.1f\nreverse_nat_warm,%.1f\n"
		       "local_redirect_warm,%.1f\npass_through_warm,%.1f\nto_pod_miss_warm,%.1f\n"
		       "empty_repeat1,%.1f\nempty_warm,%.1f\nxdp_nodeport_new,%.1f\n"
		       "xdp_nodeport_established,%.1f\nxdp_pod_pass_warm,%.1f\n"
		       "netdev_out_node_miss_warm,%.1f\n",
		       newf / iters - empty1, est / iters - empty1, rev / iters - empty1,
		       redir1 - empty1, pass1 - empty1, est_warm - empty, rev_warm - empty,
		       redir - empty, pass - empty, to_pod - empty, empty1, empty, np_new - empty1,
		       np_est - empty1, xdp_pod - empty, netdev_out - empty);
		kxdp__destroy(skel);
		return 0;
	}
	printf("| path | cold: repeat=1, fresh frame (ns) | warm: repeat=%d (ns) |\n"
	       "|---|---|---|\n", big);
	printf("| new flow via ClusterIP (rr, 2 CT inserts, DNAT) | %.1f | - |\n",
	       newf / iters - empty1);
	printf("| established flow (CT hit, DNAT) | %.1f | %.1f |\n", est / iters - empty1,
	       est_warm - empty);
	printf("| backend reply (CT hit, reverse NAT) | %.1f | %.1f |\n", rev / iters - empty1,
	       rev_warm - empty);
	printf("| pod to pod, same node (redirect_peer) | %.1f | %.1f |\n", redir1 - empty1,
	       redir - empty);
	printf("| pass-through (IPv6) | %.1f | %.1f |\n", pass1 - empty1, pass - empty);
	printf("| tc_to_pod, no conntrack hit | - | %.1f |\n", to_pod - empty);
	printf("| xdp_netdev: node port new flow, local backend (2 CT inserts, DNAT) | %.1f | - |\n",
	       np_new - empty1);
	printf("| xdp_netdev: node port established, local backend (CT hit, DNAT) | %.1f | - |\n",
	       np_est - empty1);
	printf("| xdp_netdev: frame to a pod of this node (passed on) | - | %.1f |\n",
	       xdp_pod - empty);
	printf("| tc_netdev_out: a node socket's packet, no conntrack hit | - | %.1f |\n",
	       netdev_out - empty);
	printf("| empty program (subtracted above) | %.1f | %.1f |\n", empty1, empty);
	printf("\n%d fresh frames for each cold row\n", iters);
	kxdp__destroy(skel);
	return 0;
}
