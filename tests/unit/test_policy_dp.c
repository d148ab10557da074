// SPDX-License-Identifier: GPL-2.0
/*
 * NetworkPolicy in the datapath through BPF_PROG_RUN: policy sets written
 * into kx_pol_ep / kx_pol_peer / kx_pol_rows as the agent writes them, then
 * crafted first packets and later ones through tc_from_pod, tc_netdev and
 * tc_to_pod: the verdict, the drop counter, the conntrack entries left.
 * Needs root.
 */
#include <netinet/in.h>
#include "bpftest.h"
#include "datapath/sync_policy.h"

#define POD_IFINDEX 1 /* the test's "host veth": lo, which BPF_PROG_RUN resolves */

/* Pods of the node: A and B, C; R is a pod of another node; N another node. */
#define A "12.0.2.10"
#define B "12.0.2.20"
#define C "12.0.2.30"
#define R "12.0.1.7"
#define NODE "10.124.242.130"
#define OTHER_NODE "10.124.242.131"
#define VIP "12.0.182.73"

static const uint8_t mac_a[6] = { 0x02, 0xc1, 0, 0, 0, 0x01 };
static const uint8_t mac_b[6] = { 0x02, 0xb1, 0, 0, 0, 0x02 };
static const uint8_t mac_c[6] = { 0x02, 0xb2, 0, 0, 0, 0x03 };
static const uint8_t host_mac[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	int from_pod, to_pod, tc_netdev;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (kx_fx_load(&f->skel, &f->m))
		return -1;
	f->from_pod = bpf_program__fd(f->skel->progs.tc_from_pod);
	f->to_pod = bpf_program__fd(f->skel->progs.tc_to_pod);
	f->tc_netdev = bpf_program__fd(f->skel->progs.tc_netdev);
	return 0;
}

/* Before each test: every map empty, the node's three pods wired, its address known. */
static int fresh_maps(void **state)
{
	struct fx *f = *state;
	struct kx_config c = { .flags = KX_CFG_F_POLICY, .n_node_addrs = 1,
			       .node_addrs = { ip4(NODE) } };
	uint32_t zero = 0;

	kx_fx_reset(f->skel);
	kx_put_endpoint(&f->m, A, mac_a, host_mac, POD_IFINDEX);
	kx_put_endpoint(&f->m, B, mac_b, host_mac, POD_IFINDEX);
	kx_put_endpoint(&f->m, C, mac_c, host_mac, POD_IFINDEX);
	assert_int_equal(bpf_map_update_elem(f->m.config, &zero, &c, BPF_ANY), 0);
	return 0;
}

/* Pod ip's policy sets (0: not isolated that way). */
static void pod_sets(struct fx *f, const char *ip, uint16_t ingress, uint16_t egress)
{
	struct kx_pol_ep e = { .addr = ip4(ip), .set = { ingress, egress } };
	uint32_t slot = kx_endpoint_slot(e.addr);

	assert_int_equal(bpf_map_update_elem(f->m.pol_ep, &slot, &e, BPF_ANY), 0);
}

/* Row i of set: proto (0: any) ports lo..hi. */
static void set_row(struct fx *f, uint16_t set, uint32_t i, uint8_t proto, uint16_t lo,
		    uint16_t hi)
{
	struct kx_pol_row_val r = { .proto = proto, .port_lo = lo, .port_hi = hi };
	uint32_t idx = set * KX_POL_SET_ROWS + i;

	assert_int_equal(bpf_map_update_elem(f->m.pol_rows, &idx, &r, BPF_ANY), 0);
}

/* Peers of set inside addr/len admitted by rows (bit i: row i). */
static void set_peer(struct fx *f, uint16_t set, const char *addr, uint8_t len, uint64_t rows)
{
	struct kx_pol_peer_key k = { .prefixlen = 32 + len, .set = htonl(set), .addr = ip4(addr) };

	assert_int_equal(bpf_map_update_elem(f->m.pol_peer, &k, &rows, BPF_ANY), 0);
}

static uint64_t stat_packets(struct fx *f, uint32_t what)
{
	return stat_packets_fd(f->m.stats, what);
}

static size_t ct_entries(struct fx *f)
{
	struct kx_ct_key k, next;
	size_t n = 0;

	for (int e = bpf_map_get_next_key(f->m.ct, NULL, &next); !e;
	     e = bpf_map_get_next_key(f->m.ct, &k, &next)) {
		k = next;
		n++;
	}
	return n;
}

/* The entry of tuple sa:sp -> da:dp, or -1. */
static int ct_get(struct fx *f, uint8_t proto, const char *sa, uint16_t sp, const char *da,
		  uint16_t dp, struct kx_ct_val *v)
{
	struct kx_ct_key k = { .saddr = ip4(sa), .daddr = ip4(da), .sport = htons(sp),
			       .dport = htons(dp), .proto = proto };

	return bpf_map_lookup_elem(f->m.ct, &k, v);
}

/* A packet sa:sp -> da:dp (TCP flags, or UDP) through prog from a pod veth or the uplink. */
static int send_pkt(struct fx *f, int prog, uint8_t proto, const char *sa, uint16_t sp,
		    const char *da, uint16_t dp, uint8_t flags, uint8_t *out)
{
	uint8_t in[128];
	uint32_t len;
	size_t n = build_l4(in, host_mac, mac_a, proto, sa, sp, da, dp, flags, "x");

	return kx_run_tc(prog, POD_IFINDEX, in, n, out, &len);
}

#define SYN 0x02
#define SYNACK 0x12
#define ACK 0x10
#define FIN_ACK 0x11

static int tcp(struct fx *f, int prog, const char *sa, uint16_t sp, const char *da, uint16_t dp,
	       uint8_t flags)
{
	uint8_t out[KX_RUN_OUT];

	return send_pkt(f, prog, IPPROTO_TCP, sa, sp, da, dp, flags, out);
}

static int udp(struct fx *f, int prog, const char *sa, uint16_t sp, const char *da, uint16_t dp)
{
	uint8_t out[KX_RUN_OUT];

	return send_pkt(f, prog, IPPROTO_UDP, sa, sp, da, dp, 0, out);
}

static void test_pods_no_policy_selects_get_no_entries(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(udp(f, f->tc_netdev, R, 999, B, 53), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40001, R, 80, SYN), TC_ACT_OK);
	assert_int_equal(ct_entries(f), 0);
	assert_int_equal(stat_packets(f, KX_STAT_POLICY_ALLOWED), 0);
}

static void test_nothing_judged_while_no_policy_is_in_force_here(void **state)
{
	struct kx_config c = { .n_node_addrs = 1, .node_addrs = { ip4(NODE) } };
	struct fx *f = *state;
	uint32_t zero = 0;

	pod_sets(f, B, 2, 3);
	assert_int_equal(bpf_map_update_elem(f->m.config, &zero, &c, BPF_ANY), 0);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(ct_entries(f), 0);
}

static void test_default_deny_ingress_drops_at_every_way_in(void **state)
{
	struct fx *f = *state;

	pod_sets(f, B, 2, 0); /* set 2: no peer, no row */
	/* from a pod of the node, from another node's pod or node, through the
	 * stack from a pod (a hostPort). (BPF_PROG_RUN attaches a socket to
	 * every skb, so another node's packet forwarded by the stack, which
	 * has none, is only seen end to end.) */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(udp(f, f->tc_netdev, R, 999, B, 53), TC_ACT_SHOT);
	assert_int_equal(udp(f, f->tc_netdev, OTHER_NODE, 999, B, 53), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->to_pod, C, 40000, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_INGRESS), 4);
	assert_int_equal(ct_entries(f), 0);
	/* the node itself always reaches its pods (kubelet probes) */
	assert_int_equal(tcp(f, f->to_pod, NODE, 40000, B, 80, SYN), TC_ACT_OK);
	/* B's own connections out are not ingress: they go, and so do their replies */
	assert_int_equal(tcp(f, f->from_pod, B, 41000, R, 443, SYN), TC_ACT_OK);
	assert_int_equal(tcp(f, f->tc_netdev, R, 443, B, 41000, SYNACK), TC_ACT_REDIRECT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_INGRESS), 4);
}

static void test_ingress_allowed_by_peer_and_port_only(void **state)
{
	struct fx *f = *state;
	struct kx_ct_val v;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 80, 80);
	set_peer(f, 2, A, 32, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	/* the verdict is kept in a forward entry rewriting nothing; no policy
	 * judges the replies (B's egress, A's ingress): no reply entry */
	assert_int_equal(ct_get(f, IPPROTO_TCP, A, 40000, B, 80, &v), 0);
	assert_int_equal(v.dir, KX_CT_FORWARD);
	assert_true(v.flags & KX_CT_F_POLICY);
	assert_addr(v.nat_addr, B);
	assert_int_not_equal(ct_get(f, IPPROTO_TCP, B, 80, A, 40000, &v), 0);
	assert_int_equal(tcp(f, f->from_pod, B, 80, A, 40000, SYNACK), TC_ACT_REDIRECT);
	/* another port, another protocol, another peer: denied */
	assert_int_equal(tcp(f, f->from_pod, A, 40001, B, 81, SYN), TC_ACT_SHOT);
	assert_int_equal(udp(f, f->from_pod, A, 40002, B, 80), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->from_pod, C, 40003, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_INGRESS), 3);
	assert_int_equal(stat_packets(f, KX_STAT_POLICY_ALLOWED), 1);
	assert_int_equal(ct_entries(f), 1);
}

static void test_replies_pass_the_servers_egress_deny(void **state)
{
	uint8_t out[KX_RUN_OUT];
	struct fx *f = *state;

	pod_sets(f, B, 0, 3); /* B: egress deny-all, ingress open */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	/* B's SYN-ACK, data and FIN: replies of an allowed flow */
	assert_int_equal(send_pkt(f, f->from_pod, IPPROTO_TCP, B, 80, A, 40000, SYNACK, out),
			 TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, mac_a, 6);
	assert_int_equal(tcp(f, f->from_pod, B, 80, A, 40000, FIN_ACK), TC_ACT_REDIRECT);
	/* from another node too: the entries are made where B receives it */
	assert_int_equal(udp(f, f->tc_netdev, R, 999, B, 53), TC_ACT_REDIRECT);
	assert_int_equal(udp(f, f->from_pod, B, 53, R, 999), TC_ACT_OK);
	/* but B's own new connection is egress, denied */
	assert_int_equal(tcp(f, f->from_pod, B, 41000, A, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(udp(f, f->from_pod, B, 41001, R, 53), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_EGRESS), 2);
}

static void test_egress_judged_on_the_backend_after_dnat(void **state)
{
	const char *to_b[] = { B }, *to_c[] = { C };
	uint8_t out[KX_RUN_OUT];
	struct fx *f = *state;

	pod_sets(f, A, 0, 4);
	set_row(f, 4, 0, IPPROTO_TCP, 8080, 8080); /* the backend's port, not the service's */
	set_peer(f, 4, B, 32, 1);
	kx_put_service(&f->m, VIP, 80, IPPROTO_TCP, to_b, 8080, 1);
	assert_int_equal(send_pkt(f, f->from_pod, IPPROTO_TCP, A, 40000, VIP, 80, SYN, out),
			 TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, B);
	/* the same service served by C: denied, and nothing recorded for it */
	kx_put_service(&f->m, VIP, 80, IPPROTO_TCP, to_c, 8080, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40001, VIP, 80, SYN), TC_ACT_SHOT);
	assert_int_not_equal(ct_get(f, IPPROTO_TCP, A, 40001, VIP, 80, &(struct kx_ct_val){ 0 }), 0);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_EGRESS), 1);
	/* the allowed flow's later packets keep going */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, VIP, 80, ACK), TC_ACT_REDIRECT);
}

static void test_ingress_judged_on_the_backend_with_the_clients_address(void **state)
{
	const char *to_b[] = { B };
	struct fx *f = *state;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 8080, 8080);
	set_peer(f, 2, A, 32, 1);
	kx_put_service(&f->m, VIP, 80, IPPROTO_TCP, to_b, 8080, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, VIP, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, C, 40000, VIP, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_INGRESS), 1);
}

static void test_except_masks_its_cidr_but_not_another_rule(void **state)
{
	struct fx *f = *state;

	/* row 0: TCP any port from 12.0.0.0/16 except 12.0.2.0/24; row 1: UDP 53 from C */
	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 0, 65535);
	set_row(f, 2, 1, IPPROTO_UDP, 53, 53);
	set_peer(f, 2, "12.0.0.0", 16, 1);
	set_peer(f, 2, "12.0.2.0", 24, 0);
	set_peer(f, 2, C, 32, 2);
	assert_int_equal(tcp(f, f->tc_netdev, R, 999, B, 22, SYN), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 22, SYN), TC_ACT_SHOT);
	assert_int_equal(udp(f, f->from_pod, C, 40000, B, 53), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, C, 40001, B, 22, SYN), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->tc_netdev, "13.0.0.1", 999, B, 22, SYN), TC_ACT_SHOT);
}

static void test_rule_without_ports_admits_every_protocol(void **state)
{
	struct fx *f = *state;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, 0, 0, 65535);
	set_peer(f, 2, "0.0.0.0", 0, 1);
	assert_int_equal(tcp(f, f->tc_netdev, "13.0.0.1", 999, B, 22, SYN), TC_ACT_REDIRECT);
	assert_int_equal(udp(f, f->from_pod, A, 4000, B, 5353), TC_ACT_REDIRECT);
}

static void test_pod_reaching_itself_through_its_service_is_not_judged(void **state)
{
	const char *to_a[] = { A };
	struct fx *f = *state;

	pod_sets(f, A, 2, 3); /* deny-all both ways */
	kx_put_service(&f->m, VIP, 80, IPPROTO_TCP, to_a, 8080, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, VIP, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(stat_packets(f, KX_STAT_HAIRPIN), 1);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_EGRESS), 0);
}

static void test_established_flow_survives_a_policy_change(void **state)
{
	struct fx *f = *state;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 80, 80);
	set_peer(f, 2, A, 32, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	pod_sets(f, B, KX_POL_SET_DENY, 0); /* the allowing policy goes */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, ACK), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, B, 80, A, 40000, ACK), TC_ACT_REDIRECT);
	/* a new connection is judged by the new policy */
	assert_int_equal(tcp(f, f->from_pod, A, 40001, B, 80, SYN), TC_ACT_SHOT);
	/* closed, the tuple's next SYN is a new connection, judged again */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, FIN_ACK), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_SHOT);
}

static void test_closed_flow_made_again_gets_fresh_entries(void **state)
{
	struct fx *f = *state;
	struct kx_ct_val v;

	pod_sets(f, B, 0, 3); /* egress deny: the reply entry is what lets B answer */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, FIN_ACK), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(ct_get(f, IPPROTO_TCP, B, 80, A, 40000, &v), 0);
	assert_false(v.flags & KX_CT_F_CLOSING);
	assert_int_equal(tcp(f, f->from_pod, B, 80, A, 40000, SYNACK), TC_ACT_REDIRECT);
}

static void test_a_pod_not_yet_judged_denies(void **state)
{
	struct fx *f = *state;

	pod_sets(f, B, KX_POL_SET_DENY, KX_POL_SET_DENY); /* as the CNI starts it */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->from_pod, B, 40000, A, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_INGRESS), 1);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_POLICY_EGRESS), 1);
}

static void test_mid_stream_packet_judged_like_a_first_one(void **state)
{
	struct fx *f = *state;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 80, 80);
	set_peer(f, 2, A, 32, 1);
	/* a flow older than B's isolation: allowed ones are picked up, others cut */
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, ACK), TC_ACT_REDIRECT);
	assert_int_equal(ct_entries(f), 1);
	assert_int_equal(tcp(f, f->from_pod, C, 40000, B, 80, ACK), TC_ACT_SHOT);
}

static void test_icmp_and_later_fragments_not_judged(void **state)
{
	struct fx *f = *state;
	uint8_t in[128];
	uint8_t out[KX_RUN_OUT];
	uint32_t len;
	size_t n;

	pod_sets(f, B, 2, 0);
	/* an echo request A -> B */
	n = build_l4(in, host_mac, mac_a, IPPROTO_UDP, A, 0, B, 0, 0, "ping");
	IPV4(in)->protocol = IPPROTO_ICMP;
	IPV4(in)->check = 0;
	put16((uint8_t *)&IPV4(in)->check, csum_check((uint8_t *)IPV4(in), 20));
	ICMP(in)->type = 8;
	assert_int_equal(kx_run_tc(f->from_pod, POD_IFINDEX, in, n, out, &len), TC_ACT_REDIRECT);
	/* a UDP datagram's first fragment is judged (its ports are there), a later one is not */
	n = build_l4(in, host_mac, mac_a, IPPROTO_UDP, A, 4000, B, 53, 0, "frag");
	put16((uint8_t *)&IPV4(in)->frag_off, 0x2000); /* MF, offset 0 */
	assert_int_equal(kx_run_tc(f->from_pod, POD_IFINDEX, in, n, out, &len), TC_ACT_SHOT);
	put16((uint8_t *)&IPV4(in)->frag_off, 0x0010); /* offset 128 bytes, last */
	assert_int_equal(kx_run_tc(f->from_pod, POD_IFINDEX, in, n, out, &len), TC_ACT_REDIRECT);
}

static void test_hostport_flow_through_the_stack_judged(void **state)
{
	struct fx *f = *state;
	struct kx_ct_val v;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 9000, 9000);
	set_peer(f, 2, A, 32, 1);
	/* A -> hostPort, DNATed by the stack to B:9000: judged with A's address */
	assert_int_equal(tcp(f, f->to_pod, A, 41000, B, 9000, SYN), TC_ACT_OK);
	/* the hostPort's own reply entry keeps the tuple: replies go back through the stack */
	assert_int_equal(ct_get(f, IPPROTO_TCP, B, 9000, A, 41000, &v), 0);
	assert_true(v.flags & KX_CT_F_STACK);
	assert_int_equal(tcp(f, f->to_pod, C, 41000, B, 9000, SYN), TC_ACT_SHOT);
}

static void test_counted_per_set(void **state)
{
	struct fx *f = *state;
	struct kx_pol_counter c;
	uint32_t set = 2;

	pod_sets(f, B, 2, 0);
	set_row(f, 2, 0, IPPROTO_TCP, 80, 80);
	set_peer(f, 2, A, 32, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, ACK), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, C, 40000, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->from_pod, C, 40001, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(bpf_map_lookup_elem(f->m.pol_stats, &set, &c), 0);
	assert_int_equal(c.allowed, 1);
	assert_int_equal(c.denied, 2);
}


/* A compiled table by hand: B's ingress set admitting peers[0..n) on TCP port. */
struct table_fx {
	struct kx_pol_table t;
	struct kx_pol_set set;
	struct kx_pol_prefix prefixes[4];
	struct kx_pol_pod pods[2];
	struct kx_pol_ns ns;
};

static void table_of(struct table_fx *x, const char **peers, size_t n, uint16_t port)
{
	memset(x, 0, sizeof(*x));
	x->set.dir = KX_POL_INGRESS;
	x->set.rows[0] = (struct kx_pol_row){ IPPROTO_TCP, port, port };
	x->set.n_rows = 1;
	for (size_t i = 0; i < n; i++)
		x->prefixes[i] = (struct kx_pol_prefix){ ip4(peers[i]), 32, 1 };
	x->set.prefixes = x->prefixes;
	x->set.n_prefixes = n;
	x->pods[0] = (struct kx_pol_pod){ .addr = ip4(A), .set = { -1, -1 } };
	x->pods[1] = (struct kx_pol_pod){ .addr = ip4(B), .set = { 0, -1 } };
	snprintf(x->ns.name, sizeof(x->ns.name), "x");
	x->ns.dirs = 1 << KX_POL_INGRESS;
	x->t = (struct kx_pol_table){ .sets = &x->set, .n_sets = 1, .pods = x->pods, .n_pods = 2,
				      .ns = &x->ns, .n_ns = 1 };
}

static struct kx_pol_sync_stats sync_table(struct fx *f, struct kx_pol_syncer *s,
					   const struct kx_pol_table *t)
{
	struct k8s_state st = { 0 };
	struct k8s_refusals refused = { 0 };
	struct kx_pol_sync_stats stats;
	struct kx_err err;

	if (kx_pol_sync_apply(s, &f->m, t, &st, &refused, &stats, &err))
		fail_msg("policy sync: %s", err.msg);
	assert_int_equal(refused.n, 0);
	return stats;
}

static uint16_t set_of(struct fx *f, const char *ip, int dir)
{
	struct kx_pol_ep e;
	uint32_t slot = kx_endpoint_slot(ip4(ip));

	assert_int_equal(bpf_map_lookup_elem(f->m.pol_ep, &slot, &e), 0);
	return e.addr == ip4(ip) ? e.set[dir] : 0;
}

static size_t peers_of(struct fx *f, uint16_t set)
{
	struct kx_pol_peer_key k, next;
	size_t n = 0;

	for (int e = bpf_map_get_next_key(f->m.pol_peer, NULL, &next); !e;
	     e = bpf_map_get_next_key(f->m.pol_peer, &k, &next)) {
		k = next;
		n += ntohl(next.set) == set;
	}
	return n;
}

static void test_synced_table_judges_and_changes_in_place(void **state)
{
	const char *one[] = { A }, *two[] = { A, C };
	struct fx *f = *state;
	struct kx_pol_syncer *s;
	struct kx_pol_sync_stats st;
	struct table_fx x;
	struct kx_err err;
	uint16_t id;
	uint8_t dirs;

	s = kx_pol_syncer_new(&f->m, &err);
	assert_non_null(s);
	table_of(&x, one, 1, 80);
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written, 1);
	id = set_of(f, B, KX_POL_DIR_INGRESS);
	assert_true(id > KX_POL_SET_DENY);
	assert_int_equal(kx_pol_sync_id(s, 0), id);
	assert_int_equal(set_of(f, A, KX_POL_DIR_INGRESS), 0);
	assert_int_equal(bpf_map_lookup_elem(f->m.pol_ns, &(struct kx_pol_ns_key){ "x" }, &dirs), 0);
	assert_int_equal(dirs, 1);
	assert_int_equal(tcp(f, f->from_pod, A, 40000, B, 80, SYN), TC_ACT_REDIRECT);
	assert_int_equal(tcp(f, f->from_pod, C, 40000, B, 80, SYN), TC_ACT_SHOT);

	/* the same again writes nothing */
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written + st.prefixes_written + st.prefixes_deleted + st.pods_written, 0);
	/* a peer more: one prefix written into the same set */
	table_of(&x, two, 2, 80);
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written, 0);
	assert_int_equal(st.prefixes_written, 1);
	assert_int_equal(set_of(f, B, KX_POL_DIR_INGRESS), id);
	assert_int_equal(tcp(f, f->from_pod, C, 40001, B, 80, SYN), TC_ACT_REDIRECT);
	/* another port: a new set, the old one emptied */
	table_of(&x, two, 2, 81);
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written, 1);
	assert_int_not_equal(set_of(f, B, KX_POL_DIR_INGRESS), id);
	assert_int_equal(peers_of(f, id), 0);
	assert_int_equal(tcp(f, f->from_pod, A, 40002, B, 80, SYN), TC_ACT_SHOT);
	assert_int_equal(tcp(f, f->from_pod, A, 40003, B, 81, SYN), TC_ACT_REDIRECT);

	/* a restarted agent finds it all in place */
	kx_pol_syncer_free(s);
	s = kx_pol_syncer_new(&f->m, &err);
	assert_non_null(s);
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written + st.prefixes_written + st.prefixes_deleted + st.pods_written, 0);
	assert_int_equal(st.sets, 1);

	/* no policy any more: B's entry cleared, the set and the namespace gone */
	id = set_of(f, B, KX_POL_DIR_INGRESS);
	x.t.n_sets = 0;
	x.pods[1].set[0] = -1;
	x.t.n_ns = 0;
	st = sync_table(f, s, &x.t);
	assert_int_equal(set_of(f, B, KX_POL_DIR_INGRESS), 0);
	assert_int_equal(peers_of(f, id), 0);
	assert_int_equal(st.sets, 0);
	assert_int_not_equal(bpf_map_lookup_elem(f->m.pol_ns, &(struct kx_pol_ns_key){ "x" }, &dirs), 0);
	assert_int_equal(tcp(f, f->from_pod, C, 40004, B, 80, SYN), TC_ACT_REDIRECT);
	kx_pol_syncer_free(s);
}

/* Table x's rows and prefixes with the padding between their fields anything, as compiled. */
static void garble_padding(struct table_fx *x, const char **peers, uint16_t port)
{
	memset(x->set.rows, 0xa5, sizeof(x->set.rows));
	memset(x->prefixes, 0xa5, sizeof(x->prefixes));
	x->set.rows[0].proto = IPPROTO_TCP;
	x->set.rows[0].port_lo = x->set.rows[0].port_hi = port;
	for (size_t i = 0; i < x->set.n_prefixes; i++) {
		x->prefixes[i].addr = ip4(peers[i]);
		x->prefixes[i].len = 32;
		x->prefixes[i].rows = 1;
	}
}

static void test_sync_compares_sets_field_by_field(void **state)
{
	const char *two[] = { A, C };
	struct fx *f = *state;
	struct kx_err err = { "" };
	struct kx_pol_syncer *s = kx_pol_syncer_new(&f->m, &err);
	struct kx_pol_sync_stats st;
	struct table_fx x;
	uint16_t id;

	if (!s)
		fail_msg("%s", err.msg);
	table_of(&x, two, 2, 80);
	sync_table(f, s, &x.t);
	id = set_of(f, B, KX_POL_DIR_INGRESS);
	/* compiled again, the same: nothing written */
	garble_padding(&x, two, 80);
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written + st.prefixes_written + st.prefixes_deleted + st.pods_written, 0);
	/* a peer less: its prefix deleted in place, not the set written anew */
	x.set.n_prefixes = 1;
	st = sync_table(f, s, &x.t);
	assert_int_equal(st.sets_written, 0);
	assert_int_equal(st.prefixes_written, 0);
	assert_int_equal(st.prefixes_deleted, 1);
	assert_int_equal(set_of(f, B, KX_POL_DIR_INGRESS), id);
	kx_pol_syncer_free(s);
}

static void test_sync_keeps_a_wired_pod_waiting_for_its_policy(void **state)
{
	struct fx *f = *state;
	struct kx_pol_syncer *s;
	struct table_fx x;
	struct kx_err err;

	pod_sets(f, C, KX_POL_SET_DENY, 0); /* the CNI wired C; the agent does not know it yet */
	pod_sets(f, "12.0.2.99", 5, 0); /* an entry of a pod long gone */
	s = kx_pol_syncer_new(&f->m, &err);
	assert_non_null(s);
	table_of(&x, NULL, 0, 80);
	sync_table(f, s, &x.t);
	assert_int_equal(set_of(f, C, KX_POL_DIR_INGRESS), KX_POL_SET_DENY);
	assert_int_equal(set_of(f, "12.0.2.99", KX_POL_DIR_INGRESS), 0);
	/* now it knows C, no policy selecting it: open */
	x.pods[0].addr = ip4(C);
	sync_table(f, s, &x.t);
	assert_int_equal(set_of(f, C, KX_POL_DIR_INGRESS), 0);
	kx_pol_syncer_free(s);
}

static void test_sets_that_do_not_fit_fail_closed_and_are_reported(void **state)
{
	size_t n = KX_POL_MAX_SETS - KX_POL_SET_DENY; /* one more than the ids there are */
	struct kx_pol_set *sets = calloc(n, sizeof(*sets));
	struct kx_pol_prefix *pfx = calloc(n, sizeof(*pfx));
	struct kx_pol_pod *pods = calloc(n, sizeof(*pods));
	struct k8s_netpol np = { .ns = "x", .name = "too-many" };
	struct k8s_state st = { .netpols = &np, .n_netpols = 1 };
	struct k8s_refusals refused = { 0 };
	uint32_t policy = 0;
	struct kx_pol_table t = { .sets = sets, .n_sets = n, .pods = pods, .n_pods = n };
	struct kx_pol_sync_stats stats;
	struct fx *f = *state;
	struct kx_pol_syncer *s;
	struct kx_err err;

	for (size_t i = 0; i < n; i++) { /* pod i admits only peer 10.0.i/32 */
		sets[i].dir = KX_POL_INGRESS;
		sets[i].rows[0] = (struct kx_pol_row){ IPPROTO_TCP, 80, 80 };
		sets[i].n_rows = 1;
		pfx[i] = (struct kx_pol_prefix){ htonl(0x0a000000u + (uint32_t)i), 32, 1 };
		sets[i].prefixes = &pfx[i];
		sets[i].n_prefixes = 1;
		sets[i].policies = &policy;
		sets[i].n_policies = 1;
		pods[i] = (struct kx_pol_pod){ .addr = htonl(0x0c000000u + (uint32_t)i + 1),
					       .set = { (int32_t)i, -1 } };
	}
	s = kx_pol_syncer_new(&f->m, &err);
	assert_non_null(s);
	assert_int_equal(kx_pol_sync_apply(s, &f->m, &t, &st, &refused, &stats, &err), 0);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.sets, n - 1);
	assert_int_equal(kx_pol_sync_id(s, n - 1), KX_POL_SET_DENY);
	assert_int_equal(set_of(f, "12.0.15.255", KX_POL_DIR_INGRESS), KX_POL_SET_DENY);
	assert_int_equal(refused.n, 1);
	assert_string_equal(refused.v[0].kind, "NetworkPolicy");
	assert_string_equal(refused.v[0].object, "x/too-many");
	assert_non_null(strstr(refused.v[0].reason, "deny all ingress (fail closed)"));
	k8s_refusals_free(&refused);
	kx_pol_syncer_free(s);
	free(sets);
	free(pfx);
	free(pods);
}

#define T(name) cmocka_unit_test_setup(name, fresh_maps)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pods_no_policy_selects_get_no_entries),
		T(test_nothing_judged_while_no_policy_is_in_force_here),
		T(test_default_deny_ingress_drops_at_every_way_in),
		T(test_ingress_allowed_by_peer_and_port_only),
		T(test_replies_pass_the_servers_egress_deny),
		T(test_egress_judged_on_the_backend_after_dnat),
		T(test_ingress_judged_on_the_backend_with_the_clients_address),
		T(test_except_masks_its_cidr_but_not_another_rule),
		T(test_rule_without_ports_admits_every_protocol),
		T(test_pod_reaching_itself_through_its_service_is_not_judged),
		T(test_established_flow_survives_a_policy_change),
		T(test_closed_flow_made_again_gets_fresh_entries),
		T(test_a_pod_not_yet_judged_denies),
		T(test_mid_stream_packet_judged_like_a_first_one),
		T(test_icmp_and_later_fragments_not_judged),
		T(test_hostport_flow_through_the_stack_judged),
		T(test_counted_per_set),
		T(test_synced_table_judges_and_changes_in_place),
		T(test_sync_compares_sets_field_by_field),
		T(test_sync_keeps_a_wired_pod_waiting_for_its_policy),
		T(test_sets_that_do_not_fit_fail_closed_and_are_reported),
	};

	return cmocka_run_group_tests(tests, setup, kx_fx_teardown);
}
