// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_netdev on external traffic through BPF_PROG_RUN: node ports to a local
 * backend (DNAT, XDP_PASS) and to one on another node (DNAT + SNAT, XDP_TX
 * with the MACs the FIB gives) and that backend's reply; source ranges;
 * policy Local with no endpoint. Every rewritten byte and both checksums are
 * checked here. The FIB lookups need an interface, routes and neighbours:
 * the test runs in a network namespace of its own (unshare), with a veth
 * pair standing in for the uplink and the network behind it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "lib/netlink.h"
#include "datapath/sync.h"


#define NODE_IP "10.124.242.131"
#define CLIENT_IP "10.124.242.200"
#define DENIED_IP "10.124.242.201"
#define REMOTE_NODE_IP "10.124.242.132"
#define LOCAL_POD "12.0.0.20"
#define REMOTE_POD "12.0.1.93"
#define LB_IP "10.124.251.20"

static const uint8_t client_mac[6] = { 0x02, 0xc1, 0, 0, 0, 0x01 };
static const uint8_t node132_mac[6] = { 0x02, 0x13, 0x20, 0, 0, 0x02 };
static const uint8_t pod_mac[6] = { 0x02, 0xb1, 0, 0, 0, 0x02 };
static const uint8_t host_mac[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	int xdp;
	int uplink; /* ifindex */
	uint8_t uplink_mac[6];
};

static void sh(const char *cmd)
{
	if (system(cmd))
		fail_msg("setup command failed: %s", cmd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = NULL;
	struct kx_err err = { "" };
	struct nl_sock *nl;
	FILE *fh;
	bool up;

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s: these tests need root\n",
			strerror(errno));
		return -1;
	}
	/* a node forwards (the agent turns it on): the FIB lookup asks */
	fh = fopen("/proc/sys/net/ipv4/ip_forward", "w"); /* this netns's, opened here */
	if (!fh || fputs("1\n", fh) < 0 || fclose(fh))
		fail_msg("ip_forward: %s", strerror(errno));
	sh("ip link set lo up && ip link add up0 type veth peer name wire0 && "
	   "ip addr add " NODE_IP "/24 dev up0 && ip link set up0 up && ip link set wire0 up && "
	   "ip neigh add " REMOTE_NODE_IP " lladdr 02:13:20:00:00:02 dev up0 nud permanent && "
	   "ip neigh add " CLIENT_IP " lladdr 02:c1:00:00:00:01 dev up0 nud permanent && "
	   "ip route add 12.0.1.0/24 via " REMOTE_NODE_IP " dev up0");
	nl = kx_nl_open(&err);
	if (!nl || kx_nl_link_info(nl, "up0", &f->uplink, f->uplink_mac, &up, &err))
		fail_msg("up0: %s", err.msg);
	kx_nl_close(nl);
	if (kx_fx_load(&f->skel, &f->m))
		return -1;
	f->xdp = bpf_program__fd(f->skel->progs.xdp_netdev);
	*state = f;
	return 0;
}

/* Before each test: every map empty, then the node's settings and its one pod. */
static int fresh_maps(void **state)
{
	struct fx *f = *state;
	struct kx_config c = { .node_ip = ip4(NODE_IP), .n_node_addrs = 1,
			       .node_addrs = { ip4(NODE_IP) },
			       .uplink_ifindex = (uint32_t)f->uplink };
	struct kx_endpoint ep = { .addr = ip4(LOCAL_POD), .ifindex = 1 };
	uint32_t zero = 0, slot = kx_endpoint_slot(ep.addr);

	kx_fx_reset(f->skel);
	assert_int_equal(bpf_map_update_elem(f->m.config, &zero, &c, BPF_ANY), 0);
	memcpy(ep.pod_mac, pod_mac, 6);
	memcpy(ep.host_mac, host_mac, 6);
	assert_int_equal(bpf_map_update_elem(f->m.endpoints, &slot, &ep, BPF_ANY), 0);
	return 0;
}

/* One external entry, written by the real sync code. */
static void set_external(struct fx *f, const char *vip, uint16_t port, uint8_t flags,
			 const char *backend, struct k8s_prefix *ranges, size_t n_ranges)
{
	struct kx_backend_desc b = { backend ? ip4(backend) : 0, 5001, IPPROTO_TCP,
				     KX_BACKEND_ACTIVE };
	struct kx_svc_desc d = {
		.key = { vip ? ip4(vip) : KX_VIP_NODEPORT, htons(port), IPPROTO_TCP,
			 KX_SCOPE_EXTERNAL },
		.flags = flags | (n_ranges ? KX_SVC_F_SRC_RANGES : 0),
		.backends = &b,
		.n_backends = backend ? 1 : 0,
		.src_ranges = ranges,
		.n_src_ranges = n_ranges,
	};
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };
	struct kx_err err;

	strcpy(d.owner, "t/ext");
	strcpy(d.name, "t/ext");
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
}

/* xdp_netdev on frame in, arriving on the uplink. */
static int run_xdp(struct fx *f, const uint8_t *in, size_t len, uint8_t *out, uint32_t *out_len)
{
	return kx_run_xdp(f->xdp, (uint32_t)f->uplink, in, len, out, out_len);
}

static uint64_t stat_packets(struct fx *f, uint32_t what)
{
	return stat_packets_fd(f->m.stats, what);
}

/* The addresses and ports of out's IPv4/L4 headers, and both checksums valid. */
static void assert_tuple(const uint8_t *out, const char *src, uint16_t sport, const char *dst,
			 uint16_t dport)
{
	assert_addr(IPV4(out)->saddr, src);
	assert_addr(IPV4(out)->daddr, dst);
	if (sport)
		assert_port(PORTS(out)->source, sport);
	assert_port(PORTS(out)->dest, dport);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);
}

static void test_nodeport_local_backend_dnat_keeps_client(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;
	uint64_t before = stat_packets(f, KX_STAT_EXT_NEW);

	set_external(f, NULL, 30080, 0, LOCAL_POD, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40000, NODE_IP, 30080,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_int_equal(len, n);
	assert_tuple(out, CLIENT_IP, 40000, LOCAL_POD, 5001);
	assert_memory_equal(out, in, 12); /* MACs untouched: tc_netdev delivers */
	assert_int_equal(stat_packets(f, KX_STAT_EXT_NEW), before + 1);
	/* the next packet of the flow follows its conntrack entry */
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40000, NODE_IP, 30080,
		     0x10, "data");
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40000, LOCAL_POD, 5001);
	/* not a node address: not a node port */
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40001, "10.124.242.99",
		     30080, 0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_memory_equal(out, in, n);
}

/*
 * An ICMP error from a remote backend about a node-port flow SNATed to this
 * node quotes node:snat_port -> backend. tc_netdev gives it back to the
 * client as about client:cport -> node:nodeport, from the node, and sends
 * it out of the uplink as the flow's replies go. Before (review finding) it
 * was translated, then handed to the stack, which dropped it: a forwarded
 * packet with the node's own source.
 */
static void test_icmp_error_about_a_remote_nodeport_flow_leaves_by_the_uplink(void **state)
{
	struct fx *f = *state;
	int netdev = bpf_program__fd(f->skel->progs.tc_netdev);
	uint8_t in[160], out[KX_RUN_OUT], sent[128];
	struct frame o, q;
	uint32_t len;
	size_t n;

	set_external(f, NULL, 30081, 0, REMOTE_POD, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40300, NODE_IP, 30081,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, sent, &len), XDP_TX);
	n = build_icmp_error(in, f->uplink_mac, node132_mac, ip4(REMOTE_POD), ip4(NODE_IP),
			     sent + 14);
	assert_int_equal(kx_run_tc(netdev, (uint32_t)f->uplink, in, n, out, &len),
			 TC_ACT_REDIRECT);
	o = frame_of(out, len);
	assert_addr(o.ip->saddr, NODE_IP);
	assert_addr(o.ip->daddr, CLIENT_IP);
	assert_int_equal(csum_check((uint8_t *)o.ip, 20), 0);
	q = frame_of(out + 8 + 20, len - 8 - 20);
	assert_addr(q.ip->saddr, CLIENT_IP);
	assert_port(q.tcp->source, 40300);
	assert_addr(q.ip->daddr, NODE_IP);
	assert_port(q.tcp->dest, 30081);
	assert_int_equal(csum_check((uint8_t *)q.ip, 20), 0);
	out[n] = 0;
	assert_int_equal(csum_check((uint8_t *)o.icmp, n - 34 + 1), 0);
}

/*
 * One outside client port asking two node ports served by one local
 * backend: the second flow's source port is moved (the reply tuple is the
 * first's), its address kept, and it is passed up to tc_netdev like any
 * local flow, not sent out again as a SNAT to the node would be.
 */
static void test_external_clash_on_a_local_backend_moves_the_port(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[KX_RUN_OUT];
	struct frame o;
	uint32_t len;
	size_t n;

	set_external(f, NULL, 30082, 0, LOCAL_POD, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40400, NODE_IP, 30082,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40400, LOCAL_POD, 5001);
	/* the same backend behind a second entry: an ExternalIP of another service */
	{
		struct kx_svc_key k1 = { KX_VIP_NODEPORT, htons(30082), IPPROTO_TCP,
					 KX_SCOPE_EXTERNAL };
		struct kx_svc_key k2 = { ip4(LB_IP), htons(80), IPPROTO_TCP, KX_SCOPE_EXTERNAL };
		struct kx_svc_val v;

		assert_int_equal(bpf_map_lookup_elem(f->m.svc, &k1, &v), 0);
		assert_int_equal(bpf_map_update_elem(f->m.svc, &k2, &v, BPF_NOEXIST), 0);
	}
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40400, LB_IP, 80,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	o = frame_of(out, len);
	assert_addr(o.ip->saddr, CLIENT_IP);
	assert_int_not_equal(ntohs(o.tcp->source), 40400);
	assert_addr(o.ip->daddr, LOCAL_POD);
	assert_checksums_ok(&o);
	assert_int_equal(stat_packets(f, KX_STAT_CT_PORT_MOVED), 1);
	/* its next packet too */
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40400, LB_IP, 80,
		     0x10, "x");
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
}

/*
 * The stale-SYN rule is the same at every hook: a SYN on the forward entry
 * of a flow whose service entry is now another one (deleted and made again,
 * here with source ranges that leave this client out) is a new connection
 * and meets the new entry's checks, while the flow's other packets keep
 * their entry. The XDP copy of the rule lacked the service-id check, so the
 * SYN was sent on to the old backend past the new ranges.
 */
static void test_syn_on_entry_of_a_replaced_service_is_a_new_flow(void **state)
{
	struct fx *f = *state;
	struct kx_svc_key k = { KX_VIP_NODEPORT, htons(30090), IPPROTO_TCP, KX_SCOPE_EXTERNAL };
	struct kx_svc_val v;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;
	uint64_t denied;

	set_external(f, NULL, 30090, 0, LOCAL_POD, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40090, NODE_IP, 30090,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40090, LOCAL_POD, 5001);

	/* the entry now belongs to another service id, whose ranges allow nobody */
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &k, &v), 0);
	v.id += 1000;
	v.flags |= KX_SVC_F_SRC_RANGES;
	assert_int_equal(bpf_map_update_elem(f->m.svc, &k, &v, BPF_EXIST), 0);

	denied = stat_packets(f, KX_STAT_DROP_SRC_RANGE);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_DROP); /* the SYN again */
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SRC_RANGE), denied + 1);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40090, NODE_IP, 30090,
		     0x10, "data");
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40090, LOCAL_POD, 5001);
}

/*
 * A hostNetwork backend (the node's own address): DNAT and XDP_PASS to the
 * node's stack; its reply leaves from a node socket, and tc_netdev_out gives
 * it the node port back (checksums valid). A node packet that is no reply of
 * a Service flow leaves untouched.
 */
static void test_nodeport_host_network_backend_reply_on_egress(void **state)
{
	struct fx *f = *state;
	int out_prog = bpf_program__fd(f->skel->progs.tc_netdev_out);
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_REVNAT);
	uint32_t len;
	size_t n;

	set_external(f, NULL, 30090, 0, NODE_IP, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40100, NODE_IP, 30090,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40100, NODE_IP, 5001);
	/* the node's SYN-ACK, from the backend's port, through the uplink's egress */
	n = build_l4(in, client_mac, f->uplink_mac, IPPROTO_TCP, NODE_IP, 5001, CLIENT_IP, 40100,
		     0x12, NULL);
	assert_int_equal(kx_run_tc(out_prog, 1, in, n, out, &len), TC_ACT_OK);
	assert_tuple(out, NODE_IP, 30090, CLIENT_IP, 40100);
	assert_int_equal(stat_packets(f, KX_STAT_REVNAT), before + 1);
	/* the node talking on its own (ssh from port 22): untouched */
	n = build_l4(in, client_mac, f->uplink_mac, IPPROTO_TCP, NODE_IP, 22, CLIENT_IP, 40100,
		     0x10, "x");
	assert_int_equal(kx_run_tc(out_prog, 1, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
}

static void test_nodeport_remote_backend_snat_tx_and_reply(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256], reply[128];
	uint16_t snat_port;
	uint32_t len;
	size_t n;

	set_external(f, NULL, 30080, 0, REMOTE_POD, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40100, NODE_IP, 30080,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_TX);
	/* to node132's MAC from the uplink's, as the FIB says */
	assert_memory_equal(ETH(out)->h_dest, node132_mac, 6);
	assert_memory_equal(ETH(out)->h_source, f->uplink_mac, 6);
	assert_tuple(out, NODE_IP, 0, REMOTE_POD, 5001);
	snat_port = ntohs(PORTS(out)->source);
	assert_true(snat_port >= KX_SNAT_PORT_MIN);

	/* the backend's answer comes back to NODE_IP:snat_port */
	n = build_l4(reply, f->uplink_mac, node132_mac, IPPROTO_TCP, REMOTE_POD, 5001, NODE_IP,
		     snat_port, 0x12, NULL);
	assert_int_equal(run_xdp(f, reply, n, out, &len), XDP_TX);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6);
	assert_tuple(out, NODE_IP, 30080, CLIENT_IP, 40100);

	/* a second client flow gets a SNAT port of its own */
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40101, NODE_IP, 30080,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_TX);
	assert_int_not_equal(ntohs(PORTS(out)->source), snat_port);
}

static void test_source_ranges_allow_and_deny(void **state)
{
	struct fx *f = *state;
	struct k8s_prefix allow[] = { { ip4(CLIENT_IP), 32 }, { ip4("192.0.2.0"), 24 } };
	uint64_t before = stat_packets(f, KX_STAT_DROP_SRC_RANGE);
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_external(f, LB_IP, 80, KX_SVC_F_LOCAL, LOCAL_POD, allow, 2);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, DENIED_IP, 40200, LB_IP, 80, 0x02,
		     NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_DROP);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SRC_RANGE), before + 1);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, "192.0.2.77", 40200, LB_IP, 80,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, "192.0.2.77", 40200, LOCAL_POD, 5001);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40201, LB_IP, 80, 0x02,
		     NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_PASS);
	assert_tuple(out, CLIENT_IP, 40201, LOCAL_POD, 5001);
}

static void test_local_policy_without_endpoint_drops(void **state)
{
	struct fx *f = *state;
	uint64_t before = stat_packets(f, KX_STAT_DROP_NO_LOCAL);
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_external(f, NULL, 30081, KX_SVC_F_LOCAL, NULL, NULL, 0);
	n = build_l4(in, f->uplink_mac, client_mac, IPPROTO_TCP, CLIENT_IP, 40300, NODE_IP, 30081,
		     0x02, NULL);
	assert_int_equal(run_xdp(f, in, n, out, &len), XDP_DROP);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_NO_LOCAL), before + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nodeport_local_backend_dnat_keeps_client, fresh_maps),
		cmocka_unit_test_setup(test_nodeport_remote_backend_snat_tx_and_reply, fresh_maps),
		cmocka_unit_test_setup(test_nodeport_host_network_backend_reply_on_egress, fresh_maps),
		cmocka_unit_test_setup(test_syn_on_entry_of_a_replaced_service_is_a_new_flow, fresh_maps),
		cmocka_unit_test_setup(test_icmp_error_about_a_remote_nodeport_flow_leaves_by_the_uplink,
				       fresh_maps),
		cmocka_unit_test_setup(test_external_clash_on_a_local_backend_moves_the_port,
				       fresh_maps),
		cmocka_unit_test_setup(test_source_ranges_allow_and_deny, fresh_maps),
		cmocka_unit_test_setup(test_local_policy_without_endpoint_drops, fresh_maps),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("nodeport", tests, setup, kx_fx_teardown);
}
