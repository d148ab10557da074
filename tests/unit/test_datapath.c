// SPDX-License-Identifier: GPL-2.0
/*
 * tc_from_pod and tc_to_pod through BPF_PROG_RUN with crafted frames: the
 * verdict, every rewritten byte, checksums re-verified here, map contents.
 * Maps are the skeleton's own (nothing pinned); services are written by the
 * real sync code. Needs root (CAP_BPF, CAP_NET_ADMIN).
 */
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

#define POD_IFINDEX 1 /* the test's "host veth": lo, which BPF_PROG_RUN resolves */

static const uint8_t client_mac[6] = { 0x02, 0xc1, 0, 0, 0, 0x01 };
static const uint8_t backend_mac[6] = { 0x02, 0xb1, 0, 0, 0, 0x02 };
static const uint8_t other_mac[6] = { 0x02, 0xb2, 0, 0, 0, 0x03 };
static const uint8_t host_mac_a[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };
static const uint8_t host_mac_b[6] = { 0x02, 0xbb, 0, 0, 0, 0x0b };

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	int from_pod, to_pod, tc_netdev, xdp_netdev;
};

static void add_endpoint(struct fx *f, const char *ip, const uint8_t *pod_mac,
			 const uint8_t *host_mac, uint32_t ifindex)
{
	kx_put_endpoint(&f->m, ip, pod_mac, host_mac, ifindex);
}

/* A one-service table: vip:port/proto -> n backends. */
static void set_service(struct fx *f, const char *vip, uint16_t port, uint8_t proto,
			const char **ips, uint16_t bport, size_t n)
{
	kx_put_service(&f->m, vip, port, proto, ips, bport, n);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (kx_fx_load(&f->skel, &f->m))
		return -1;
	f->from_pod = bpf_program__fd(f->skel->progs.tc_from_pod);
	f->to_pod = bpf_program__fd(f->skel->progs.tc_to_pod);
	f->tc_netdev = bpf_program__fd(f->skel->progs.tc_netdev);
	f->xdp_netdev = bpf_program__fd(f->skel->progs.xdp_netdev);
	*state = f;
	return 0;
}

/* Before each test: every map empty, then the three pods of the node wired. */
static int fresh_maps(void **state)
{
	struct fx *f = *state;

	kx_fx_reset(f->skel);
	add_endpoint(f, "12.0.2.10", client_mac, host_mac_a, POD_IFINDEX);
	add_endpoint(f, "12.0.2.20", backend_mac, host_mac_b, POD_IFINDEX);
	add_endpoint(f, "12.0.2.30", other_mac, host_mac_b, POD_IFINDEX);
	return 0;
}

/* prog on frame in, arriving from the test's pod veth. */
static int run(int prog, const uint8_t *in, size_t len, uint8_t *out, uint32_t *out_len)
{
	return kx_run_tc(prog, POD_IFINDEX, in, len, out, out_len);
}

static uint64_t stat_packets(struct fx *f, uint32_t what)
{
	return stat_packets_fd(f->m.stats, what);
}

/* An Ethernet/IPv4 ARP frame (RFC 826), as on the wire. */
struct arp_view {
	struct ethhdr eth;
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
} __attribute__((packed));

static void test_arp_request_answered_with_host_mac(void **state)
{
	struct fx *f = *state;
	struct arp_view in = { .htype = htons(1), .ptype = htons(0x0800), .hlen = 6, .plen = 4,
			       .op = htons(1), .spa = ip4("12.0.2.10"), .tpa = ip4("12.0.2.1") };
	uint8_t out[KX_RUN_OUT];
	struct arp_view *o = (void *)out;
	uint32_t len;

	memset(in.eth.h_dest, 0xff, 6);
	memcpy(in.eth.h_source, client_mac, 6);
	in.eth.h_proto = htons(0x0806);
	memcpy(in.sha, client_mac, 6);

	assert_int_equal(run(f->from_pod, (void *)&in, sizeof(in), out, &len), TC_ACT_REDIRECT);
	assert_int_equal(len, 42);
	assert_memory_equal(o->eth.h_dest, client_mac, 6); /* back to the pod */
	assert_memory_equal(o->eth.h_source, host_mac_a, 6);
	assert_int_equal(ntohs(o->eth.h_proto), 0x0806);
	assert_memory_equal(&o->htype, &in.htype, 6); /* htype, ptype, hlen, plen */
	assert_int_equal(ntohs(o->op), 2); /* reply */
	assert_memory_equal(o->sha, host_mac_a, 6); /* sender: the host veth */
	assert_addr(o->spa, "12.0.2.1"); /* for the asked address */
	assert_memory_equal(o->tha, client_mac, 6);
	assert_addr(o->tpa, "12.0.2.10");

	/* A probe for its own address (duplicate detection) is not answered. */
	in.tpa = in.spa;
	assert_int_equal(run(f->from_pod, (void *)&in, sizeof(in), out, &len), TC_ACT_OK);
	assert_memory_equal(out, &in, sizeof(in));

	/* The pod's ARP reply (to the node's own request) goes to the kernel. */
	in.tpa = ip4("12.0.2.1");
	in.op = htons(2);
	assert_int_equal(run(f->from_pod, (void *)&in, sizeof(in), out, &len), TC_ACT_OK);
	assert_memory_equal(out, &in, sizeof(in));

	/* A probe from 0.0.0.0 too. */
	in.op = htons(1);
	in.spa = 0;
	assert_int_equal(run(f->from_pod, (void *)&in, sizeof(in), out, &len), TC_ACT_OK);

	/* ARP claiming an address that is not this pod's is dropped and counted. */
	uint64_t spoofed = stat_packets(f, KX_STAT_DROP_SPOOFED);

	in.spa = ip4("12.0.2.77");
	assert_int_equal(run(f->from_pod, (void *)&in, sizeof(in), out, &len), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SPOOFED), spoofed + 1);
}

static void test_pod_to_pod_redirect_rewrites_macs(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 40000,
			    "12.0.2.30", 8080, 0x02, NULL);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(len, n);
	assert_memory_equal(ETH(out)->h_dest, other_mac, 6);
	assert_memory_equal(ETH(out)->h_source, host_mac_b, 6);
	assert_memory_equal(out + 12, in + 12, n - 12); /* L3 and up untouched */
}

static void test_syn_to_vip_round_robin_dnat(void **state)
{
	const char *ips[] = { "12.0.2.20", "12.0.2.30" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	struct kx_ct_key k = { 0 };
	struct kx_ct_val v;
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.73", 5432, IPPROTO_TCP, ips, 5001, 2);
	for (int i = 0; i < 4; i++) {
		uint16_t sport = 41000 + i;
		const char *want = ips[i % 2];

		n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", sport,
			     "12.0.182.73", 5432, 0x02, NULL);
		assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
		assert_int_equal(len, n);
		/* Ethernet to the chosen local backend */
		assert_memory_equal(out, i % 2 ? other_mac : backend_mac, 6);
		assert_memory_equal(ETH(out)->h_source, host_mac_b, 6);
		/* IPv4: only daddr and the checksum change */
		assert_memory_equal(out + 14, in + 14, 10);
		assert_memory_equal(out + 26, in + 26, 4);
		assert_addr(IPV4(out)->daddr, want);
		assert_ipv4_csum_ok(out);
		/* TCP: only dport and the checksum change */
		assert_int_equal(ntohs(PORTS(out)->source), sport);
		assert_int_equal(ntohs(PORTS(out)->dest), 5001);
		assert_memory_equal(out + 38, in + 38, 12);
		assert_memory_equal(out + 52, in + 52, n - 52);
		assert_l4_csum_ok(out);

		/* conntrack: forward entry by the client tuple, reply entry by the backend's */
		k.saddr = ip4("12.0.2.10");
		k.daddr = ip4("12.0.182.73");
		k.sport = htons(sport);
		k.dport = htons(5432);
		k.proto = IPPROTO_TCP;
		assert_int_equal(bpf_map_lookup_elem(f->m.ct, &k, &v), 0);
		assert_int_equal(v.dir, KX_CT_FORWARD);
		assert_int_equal(v.nat_addr, ip4(want));
		assert_int_equal(v.nat_port, htons(5001));
		k.saddr = ip4(want);
		k.daddr = ip4("12.0.2.10");
		k.sport = htons(5001);
		k.dport = htons(sport);
		assert_int_equal(bpf_map_lookup_elem(f->m.ct, &k, &v), 0);
		assert_int_equal(v.dir, KX_CT_REPLY);
		assert_int_equal(v.nat_addr, ip4("12.0.182.73"));
		assert_int_equal(v.nat_port, htons(5432));
	}

	/* Established: the same flow keeps its backend (the first, 12.0.2.20). */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 41000, "12.0.182.73",
		     5432, 0x10, "data");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");
	assert_l4_csum_ok(out);
}

static bool ct_has(struct fx *f, uint8_t proto, const char *sa, uint16_t sp, const char *da,
		   uint16_t dp)
{
	struct kx_ct_key k = { ip4(sa), ip4(da), htons(sp), htons(dp), proto, { 0 } };
	struct kx_ct_val v;

	return !bpf_map_lookup_elem(f->m.ct, &k, &v);
}

/*
 * A backend leaves a service: its UDP flows (both entries) are purged, so
 * the next datagram picks a live backend; the other backend's UDP flow and
 * TCP connections to the removed one stay.
 */
static void test_udp_flows_of_a_removed_backend_are_purged(void **state)
{
	const char *two[] = { "12.0.2.20", "12.0.2.30" }, *one[] = { "12.0.2.20" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	for (int proto = IPPROTO_TCP; proto; proto = proto == IPPROTO_TCP ? IPPROTO_UDP : 0) {
		set_service(f, "12.0.182.74", 53, (uint8_t)proto, two, 5353, 2);
		for (uint16_t sport = 42000; sport < 42002; sport++) {
			n = build_l4(in, host_mac_a, client_mac, (uint8_t)proto, "12.0.2.10", sport,
				     "12.0.182.74", 53, 0x02, "q");
			assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
		}
		/* rr: 42000 -> .20, 42001 -> .30 */
		assert_true(ct_has(f, (uint8_t)proto, "12.0.2.30", 5353, "12.0.2.10", 42001));
		uint64_t user_deleted = stat_packets(f, KX_STAT_CT_DELETED_USER);
		set_service(f, "12.0.182.74", 53, (uint8_t)proto, one, 5353, 1);
		bool purged = proto == IPPROTO_UDP;

		/* both entries purged are counted as deleted (not read as evictions) */
		assert_int_equal(stat_packets(f, KX_STAT_CT_DELETED_USER),
				 user_deleted + (purged ? 2 : 0));

		assert_int_equal(ct_has(f, (uint8_t)proto, "12.0.2.10", 42001, "12.0.182.74", 53),
				 !purged);
		assert_int_equal(ct_has(f, (uint8_t)proto, "12.0.2.30", 5353, "12.0.2.10", 42001),
				 !purged);
		assert_true(ct_has(f, (uint8_t)proto, "12.0.2.10", 42000, "12.0.182.74", 53));
		assert_true(ct_has(f, (uint8_t)proto, "12.0.2.20", 5353, "12.0.2.10", 42000));
	}
	/* the purged flow's next datagram goes to the live backend */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 42001, "12.0.182.74", 53,
		     0, "q");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");
}

/* The addresses and ports of out's IPv4/L4 headers, and both checksums valid. */
static void assert_tuple(const uint8_t *out, const char *src, uint16_t sport, const char *dst,
			 uint16_t dport)
{
	assert_addr(IPV4(out)->saddr, src);
	assert_addr(IPV4(out)->daddr, dst);
	assert_int_equal(ntohs(PORTS(out)->source), sport);
	assert_int_equal(ntohs(PORTS(out)->dest), dport);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);
}

/*
 * "should allow pods to hairpin back to themselves through services": the
 * pod is its Service's only backend; it receives its own connection from the
 * VIP (kube-router's hairpin), and its answer goes back to it from VIP:port.
 */
static void test_pod_hairpins_to_itself_through_its_service(void **state)
{
	const char *self[] = { "12.0.2.10" };
	struct fx *f = *state;
	uint64_t before = stat_packets(f, KX_STAT_HAIRPIN);
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.75", 5432, IPPROTO_TCP, self, 5001, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 46000, "12.0.182.75",
		     5432, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6); /* back into the same pod */
	assert_tuple(out, "12.0.182.75", 46000, "12.0.2.10", 5001);
	assert_int_equal(stat_packets(f, KX_STAT_HAIRPIN), before + 1);
	/* the pod, as the server, answers the VIP */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 5001, "12.0.182.75",
		     46000, 0x12, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_tuple(out, "12.0.182.75", 5432, "12.0.2.10", 46000);
	/* and the client side's next packet follows the same flow */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 46000, "12.0.182.75",
		     5432, 0x10, "x");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_tuple(out, "12.0.182.75", 46000, "12.0.2.10", 5001);
}

static void test_syn_on_stale_conntrack_reselects(void **state)
{
	const char *first[] = { "12.0.2.20" }, *second[] = { "12.0.2.30" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.60", 80, IPPROTO_TCP, first, 8080, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 46000, "12.0.182.60",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");

	/* The backend goes away; the same tuple's next SYN must not follow the old entry. */
	set_service(f, "12.0.182.60", 80, IPPROTO_TCP, second, 8080, 1);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.30");
	assert_l4_csum_ok(out);

	/* A non-SYN segment of the old flow keeps the recorded translation. */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 46001, "12.0.182.60",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.30");
	set_service(f, "12.0.182.60", 80, IPPROTO_TCP, first, 8080, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 46001, "12.0.182.60",
		     80, 0x10, "x");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.30");
}

static void test_port_reuse_after_close_is_a_new_connection(void **state)
{
	const char *ips[] = { "12.0.2.20", "12.0.2.30" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	struct kx_ct_key k = { .saddr = ip4("12.0.2.10"), .daddr = ip4("12.0.182.61"),
			       .sport = htons(47000), .dport = htons(80), .proto = IPPROTO_TCP };
	struct kx_ct_val v;
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.61", 80, IPPROTO_TCP, ips, 8080, 2);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 47000, "12.0.182.61",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");
	/* A retransmitted SYN of the same attempt stays on its backend. */
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");

	/* The server closes: its FIN marks both entries closing. */
	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.0.2.20", 8080, "12.0.2.10",
		     47000, 0x11, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(bpf_map_lookup_elem(f->m.ct, &k, &v), 0);
	assert_true(v.flags & KX_CT_F_CLOSING);

	/* The client reuses the port for a direct connection to the backend: the
	 * backend's SYN-ACK must keep its own address (the stale reply entry goes,
	 * counted as deleted: not read as an eviction). */
	uint64_t deleted = stat_packets(f, KX_STAT_CT_DELETED);
	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.0.2.20", 8080, "12.0.2.10",
		     47000, 0x12, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(stat_packets(f, KX_STAT_CT_DELETED), deleted + 1);
	assert_addr(IPV4(out)->saddr, "12.0.2.20");
	assert_int_equal(ntohs(PORTS(out)->source), 8080);
	assert_memory_equal(out + 14, in + 14, n - 14);
	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.0.2.20", 8080, "12.0.2.10",
		     47000, 0x10, "data");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->saddr, "12.0.2.20");

	/* The client reuses the port: a new connection, the next backend in turn. */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 47000, "12.0.182.61",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.30");
	assert_int_equal(bpf_map_lookup_elem(f->m.ct, &k, &v), 0);
	assert_false(v.flags & KX_CT_F_CLOSING);
}

static void test_backend_reply_reverse_nat(void **state)
{
	const char *ips[] = { "12.0.2.20" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.73", 5432, IPPROTO_TCP, ips, 5001, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 42000, "12.0.182.73",
		     5432, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);

	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.0.2.20", 5001, "12.0.2.10",
		     42000, 0x12, "pong");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6);
	assert_memory_equal(ETH(out)->h_source, host_mac_a, 6);
	assert_addr(IPV4(out)->saddr, "12.0.182.73"); /* source back to the VIP */
	assert_addr(IPV4(out)->daddr, "12.0.2.10");
	assert_int_equal(ntohs(PORTS(out)->source), 5432);
	assert_int_equal(ntohs(PORTS(out)->dest), 42000);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);
	assert_memory_equal(L4_OF(out) + 20, "pong", 4); /* after the TCP header */
}

static void test_udp_dnat_and_reply(void **state)
{
	const char *ips[] = { "12.0.2.20" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.128.10", 53, IPPROTO_UDP, ips, 5353, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 33333, "12.0.128.10",
		     53, 0, "query");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");
	assert_int_equal(ntohs(PORTS(out)->dest), 5353);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);

	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_UDP, "12.0.2.20", 5353, "12.0.2.10",
		     33333, 0, "answer");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->saddr, "12.0.128.10");
	assert_int_equal(ntohs(PORTS(out)->source), 53);
	assert_l4_csum_ok(out);

	/* A UDP checksum of 0 means "none" and stays 0 through the DNAT. */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 33334, "12.0.128.10",
		     53, 0, "query");
	put16(in + 40, 0);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.20");
	assert_int_equal(UDP(out)->check, 0);
	assert_ipv4_csum_ok(out);
}

/* Two Services of one protocol and port, both on the one backend ip:bport. */
static void set_two_services(struct fx *f, const char *vip_a, const char *vip_b, uint16_t port,
			     uint8_t proto, const char *ip, uint16_t bport)
{
	struct kx_backend_desc b = { ip4(ip), bport, proto, KX_BACKEND_ACTIVE };
	struct kx_svc_desc d[2] = {
		{ .key = { ip4(vip_a), htons(port), proto, KX_SCOPE_INTERNAL }, .backends = &b,
		  .n_backends = 1 },
		{ .key = { ip4(vip_b), htons(port), proto, KX_SCOPE_INTERNAL }, .backends = &b,
		  .n_backends = 1 },
	};
	struct kx_table t = { .svcs = d, .n_svcs = 2 };
	struct kx_err err;

	strcpy(d[0].owner, "t/a");
	strcpy(d[1].owner, "t/b");
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
}

/* A UDP datagram from sip:sport to dip:dport through tc_from_pod; out receives the result. */
static struct frame udp_through(struct fx *f, const uint8_t *dmac, const uint8_t *smac,
				const char *sip, uint16_t sport, const char *dip, uint16_t dport,
				const char *payload, uint8_t *out)
{
	uint8_t in[128];
	uint32_t len;
	size_t n = build_l4(in, dmac, smac, IPPROTO_UDP, sip, sport, dip, dport, 0, payload);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	return frame_of(out, len);
}

/* Entries in kx_ct. */
static size_t ct_entries(struct fx *f)
{
	struct kx_ct_key k, next;
	void *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(f->m.ct, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* A TCP segment from sip:sport to dip:dport (flags) through tc_from_pod. */
static struct frame tcp_through(struct fx *f, const char *sip, uint16_t sport, const char *dip,
				uint16_t dport, uint8_t flags, uint8_t *out)
{
	uint8_t in[128];
	uint32_t len;
	size_t n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, sip, sport, dip, dport,
			    flags, NULL);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	return frame_of(out, len);
}

/*
 * A closed flow's tuple is still taken (netfilter keeps a closing conntrack
 * in its clash check until it expires): a client port that closed towards
 * one VIP and opens towards another on the same backend is moved, and the
 * first flow's last packets keep their VIP. Reusing it towards the same VIP
 * is that flow made again: the port stays. Before (review finding), a
 * closing entry of another VIP was written over.
 */
static void test_closed_tuple_is_taken_until_it_expires(void **state)
{
	struct fx *f = *state;
	uint8_t out[KX_RUN_OUT];
	struct frame o;

	set_two_services(f, "12.0.128.24", "12.0.128.25", 80, IPPROTO_TCP, "12.0.2.20", 8080);
	tcp_through(f, "12.0.2.10", 40200, "12.0.128.24", 80, 0x02, out);
	tcp_through(f, "12.0.2.10", 40200, "12.0.128.24", 80, 0x11, out); /* FIN */
	o = tcp_through(f, "12.0.2.10", 40200, "12.0.128.25", 80, 0x02, out);
	assert_int_not_equal(ntohs(o.tcp->source), 40200);
	/* the backend's last ACK of the first flow: still from the first VIP */
	uint8_t in[128];
	uint32_t len;
	size_t n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.0.2.20", 8080,
			    "12.0.2.10", 40200, 0x10, NULL);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	o = frame_of(out, len);
	assert_addr(o.ip->saddr, "12.0.128.24");
	/* the same VIP again after close: a new connection, its port kept */
	o = tcp_through(f, "12.0.2.10", 40201, "12.0.128.24", 80, 0x02, out);
	tcp_through(f, "12.0.2.10", 40201, "12.0.128.24", 80, 0x11, out);
	o = tcp_through(f, "12.0.2.10", 40201, "12.0.128.24", 80, 0x02, out);
	assert_port(o.tcp->source, 40201);
	assert_int_equal(stat_packets(f, KX_STAT_CT_PORT_MOVED), 1);
}

/*
 * A hairpin connection made again on the same port (SYN after close) is
 * that flow again: its port is kept and its old entries written over. Before
 * (review finding), its own old reply entry counted as another flow's: the
 * port moved and an entry was left whose twin was the new flow's.
 */
static void test_hairpin_made_again_keeps_its_port(void **state)
{
	const char *self[] = { "12.0.2.10" };
	struct fx *f = *state;
	uint8_t out[KX_RUN_OUT];
	struct frame o;

	set_service(f, "12.0.182.74", 5432, IPPROTO_TCP, self, 5001, 1);
	tcp_through(f, "12.0.2.10", 46100, "12.0.182.74", 5432, 0x02, out);
	tcp_through(f, "12.0.2.10", 46100, "12.0.182.74", 5432, 0x11, out);
	o = tcp_through(f, "12.0.2.10", 46100, "12.0.182.74", 5432, 0x02, out);
	assert_addr(o.ip->saddr, "12.0.182.74");
	assert_port(o.tcp->source, 46100);
	assert_int_equal(stat_packets(f, KX_STAT_CT_PORT_MOVED), 0);
	assert_int_equal(ct_entries(f), 2);
}

/*
 * One client socket (one source port) asks two Services that share a
 * backend, as a resolver asks kube-dns and a second DNS Service on the same
 * CoreDNS pods: both flows must work. The second one's reply tuple is the
 * first one's, so its source port is changed (netfilter's clash
 * resolution), and each answer comes back from the VIP it was asked of.
 * Before the fix the second query's entry overwrote the first's reply
 * entry: the first query's answer came back from the second VIP.
 */
static void test_one_socket_two_services_sharing_a_backend(void **state)
{
	struct fx *f = *state;
	uint8_t out[256];
	struct frame o;
	uint16_t moved;

	set_two_services(f, "12.0.128.20", "12.0.128.21", 53, IPPROTO_UDP, "12.0.2.20", 5353);
	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40000, "12.0.128.20", 53, "q1",
			out);
	assert_addr(o.ip->daddr, "12.0.2.20");
	assert_port(o.udp->dest, 5353);
	assert_port(o.udp->source, 40000); /* no clash: the port is kept */
	assert_checksums_ok(&o);

	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40000, "12.0.128.21", 53, "q2",
			out);
	assert_addr(o.ip->saddr, "12.0.2.10");
	assert_addr(o.ip->daddr, "12.0.2.20");
	assert_port(o.udp->dest, 5353);
	moved = ntohs(o.udp->source);
	assert_true(moved >= KX_SNAT_PORT_MIN); /* and at most 65535 */
	assert_checksums_ok(&o);
	assert_int_equal(stat_packets(f, KX_STAT_CT_PORT_MOVED), 1);
	assert_int_equal(ct_entries(f), 4); /* two whole flows, neither written over */

	/* the answer to the first query: from the first VIP */
	o = udp_through(f, host_mac_b, backend_mac, "12.0.2.20", 5353, "12.0.2.10", 40000, "a1",
			out);
	assert_memory_equal(o.eth->h_dest, client_mac, 6);
	assert_addr(o.ip->saddr, "12.0.128.20");
	assert_port(o.udp->source, 53);
	assert_addr(o.ip->daddr, "12.0.2.10");
	assert_port(o.udp->dest, 40000);
	assert_checksums_ok(&o);
	assert_memory_equal(o.payload, "a1", 2);

	/* the answer to the second: from the second VIP, to the client's own port */
	o = udp_through(f, host_mac_b, backend_mac, "12.0.2.20", 5353, "12.0.2.10", moved, "a2",
			out);
	assert_addr(o.ip->saddr, "12.0.128.21");
	assert_port(o.udp->source, 53);
	assert_addr(o.ip->daddr, "12.0.2.10");
	assert_port(o.udp->dest, 40000);
	assert_checksums_ok(&o);

	/* later datagrams of each flow keep their own translation */
	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40000, "12.0.128.21", 53, "q3",
			out);
	assert_port(o.udp->source, moved);
	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40000, "12.0.128.20", 53, "q4",
			out);
	assert_port(o.udp->source, 40000);
	o = udp_through(f, host_mac_b, backend_mac, "12.0.2.20", 5353, "12.0.2.10", 40000, "a3",
			out);
	assert_addr(o.ip->saddr, "12.0.128.20");
}

static void test_no_endpoint_icmp_port_unreachable(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_REJECT_NO_BACKEND);
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.99", 80, IPPROTO_TCP, NULL, 0, 0);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 43000, "12.0.182.99",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(len, 14 + 20 + 8 + 20 + 20);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6);
	assert_memory_equal(ETH(out)->h_source, host_mac_a, 6);
	assert_int_equal(ntohs(ETH(out)->h_proto), 0x0800);
	assert_int_equal(out[14], 0x45);
	assert_int_equal(ntohs(IPV4(out)->tot_len), 20 + 8 + 20 + 20);
	assert_int_equal(out[23], IPPROTO_ICMP);
	assert_addr(IPV4(out)->saddr, "12.0.182.99");
	assert_addr(IPV4(out)->daddr, "12.0.2.10");
	assert_ipv4_csum_ok(out);
	assert_int_equal(ICMP(out)->type, 3); /* destination unreachable */
	assert_int_equal(ICMP(out)->code, 3); /* port unreachable */
	assert_int_equal(csum_check((uint8_t *)ICMP(out), 8 + 20 + 20), 0);
	assert_memory_equal(out + 42, in + 14, 20 + 20); /* original IP + TCP header */
	assert_int_equal(stat_packets(f, KX_STAT_REJECT_NO_BACKEND), before + 1);

	/* UDP: 8 bytes of the datagram quoted */
	set_service(f, "12.0.182.99", 81, IPPROTO_UDP, NULL, 0, 0);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 43001, "12.0.182.99",
		     81, 0, "hello?");
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(len, 14 + 20 + 8 + 20 + 8);
	assert_ipv4_csum_ok(out);
	assert_int_equal(csum_check((uint8_t *)ICMP(out), 8 + 20 + 8), 0);
	assert_memory_equal(out + 42, in + 14, 28);
}

/* vip:port/proto -> backend ip:bport, plus the ClusterIP's marker entry (as the model makes). */
static void set_service_and_vip(struct fx *f, const char *vip, uint16_t port, uint8_t proto,
				const char *ip, uint16_t bport)
{
	struct kx_backend_desc b = { ip4(ip), bport, proto, KX_BACKEND_ACTIVE };
	struct kx_svc_desc d[2] = {
		{ .key = { ip4(vip), 0, 0, KX_SCOPE_INTERNAL }, .flags = KX_SVC_F_VIP },
		{ .key = { ip4(vip), htons(port), proto, KX_SCOPE_INTERNAL }, .backends = &b,
		  .n_backends = 1 },
	};
	struct kx_table t = { .svcs = d, .n_svcs = 2 };
	struct kx_err err;

	strcpy(d[0].owner, "t/svc");
	strcpy(d[1].owner, "t/svc");
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
}

/*
 * "should be rejected ... for a port the service does not have": a known
 * ClusterIP on another port is refused with ICMP port unreachable (TCP SYN
 * and UDP); a non-SYN TCP packet is left alone; ICMP echo to it is answered.
 */
static void test_clusterip_other_port_refused_and_ping_answered(void **state)
{
	struct fx *f = *state;
	uint64_t before = stat_packets(f, KX_STAT_REJECT_NO_PORT);
	uint8_t in[128], out[256];
	uint32_t len, a;
	size_t n;

	set_service_and_vip(f, "12.0.182.76", 5432, IPPROTO_TCP, "12.0.2.20", 5001);
	for (int proto = IPPROTO_TCP; proto; proto = proto == IPPROTO_TCP ? IPPROTO_UDP : 0) {
		n = build_l4(in, host_mac_a, client_mac, (uint8_t)proto, "12.0.2.10", 47000,
			     "12.0.182.76", 5433, 0x02, "x");
		assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
		assert_int_equal(out[23], IPPROTO_ICMP);
		assert_int_equal(ICMP(out)->type, 3);
		assert_int_equal(ICMP(out)->code, 3);
		assert_addr(IPV4(out)->saddr, "12.0.182.76");
	}
	assert_int_equal(stat_packets(f, KX_STAT_REJECT_NO_PORT), before + 2);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 47001, "12.0.182.76",
		     5433, 0x10, NULL); /* a stray ACK: not a connection attempt */
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);

	/* ping: an echo request (id 7, seq 1, 8 bytes of data) */
	memset(in, 0, sizeof(in));
	memcpy(in, host_mac_a, 6);
	memcpy(in + 6, client_mac, 6);
	put16(in + 12, 0x0800);
	in[14] = 0x45;
	put16(in + 16, 20 + 8 + 8);
	in[22] = 64;
	in[23] = IPPROTO_ICMP;
	a = ip4("12.0.2.10");
	memcpy(in + 26, &a, 4);
	a = ip4("12.0.182.76");
	memcpy(in + 30, &a, 4);
	put16(in + 24, csum_check(in + 14, 20));
	in[34] = 8;
	put16(in + 38, 7);
	put16(in + 40, 1);
	memcpy(in + 42, "pingdata", 8);
	put16(in + 36, csum_check(in + 34, 16));
	n = 14 + 20 + 16;
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(len, n);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6);
	assert_addr(IPV4(out)->saddr, "12.0.182.76");
	assert_addr(IPV4(out)->daddr, "12.0.2.10");
	assert_ipv4_csum_ok(out);
	assert_int_equal(ICMP(out)->type, 0); /* echo reply */
	assert_int_equal(csum_check((uint8_t *)ICMP(out), 16), 0);
	assert_memory_equal(out + 38, in + 38, 12); /* id, seq, data */
	/* a ping to an address that is no ClusterIP: the kernel's */
	a = ip4("12.1.0.9");
	memcpy(in + 30, &a, 4);
	put16(in + 24, 0);
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
}

/* A fragment to a ClusterIP cannot be balanced: dropped and counted; elsewhere, the kernel's. */
static void test_fragment_to_clusterip_dropped_and_counted(void **state)
{
	struct fx *f = *state;
	uint64_t before = stat_packets(f, KX_STAT_DROP_FRAGMENT);
	uint8_t in[128], out[256];
	uint32_t len, a;
	size_t n;

	set_service_and_vip(f, "12.0.182.77", 53, IPPROTO_UDP, "12.0.2.20", 5353);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 48000, "12.0.182.77", 53,
		     0, "first-fragment");
	put16(in + 20, 0x2000); /* MF: the first of several */
	put16(in + 24, 0);
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_SHOT);
	put16(in + 20, 0x0003); /* a later one: offset 24, no UDP header */
	put16(in + 24, 0);
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_FRAGMENT), before + 2);
	a = ip4("12.1.0.9"); /* not a ClusterIP: untouched, to the kernel */
	memcpy(in + 30, &a, 4);
	put16(in + 24, 0);
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
}

/*
 * A backend answers a client's datagram with ICMP port unreachable, quoting
 * it as it arrived (client -> backend:5353): the client must see an error
 * about VIP:53 from the VIP, with every checksum right (its socket matches
 * on the quote).
 */
static void test_icmp_error_from_backend_translated_for_the_client(void **state)
{
	struct fx *f = *state;
	uint8_t in[160], out[256], dgram[128];
	uint32_t len;
	size_t n, dn;

	set_service_and_vip(f, "12.0.182.78", 53, IPPROTO_UDP, "12.0.2.20", 5353);
	dn = build_l4(dgram, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 49000,
		      "12.0.182.78", 53, 0, "query");
	assert_int_equal(run(f->from_pod, dgram, dn, out, &len), TC_ACT_REDIRECT);
	memcpy(dgram, out, len); /* as the backend received it: to 12.0.2.20:5353 */
	assert_addr(IPV4(dgram)->daddr, "12.0.2.20");

	/* the backend's error: outer 12.0.2.20 -> 12.0.2.10, ICMP 3/3, quote */
	memset(in, 0, sizeof(in));
	memcpy(in, host_mac_b, 6);
	memcpy(in + 6, backend_mac, 6);
	put16(in + 12, 0x0800);
	in[14] = 0x45;
	put16(in + 16, 20 + 8 + 20 + 8 + 5);
	in[22] = 64;
	in[23] = IPPROTO_ICMP;
	memcpy(in + 26, dgram + 30, 4); /* from the backend */
	memcpy(in + 30, dgram + 26, 4); /* to the client */
	put16(in + 24, csum_check(in + 14, 20));
	in[34] = 3;
	in[35] = 3;
	memcpy(in + 42, dgram + 14, 20 + 8 + 5); /* the quote: IPv4 + UDP + data */
	put16(in + 36, csum_check(in + 34, 8 + 20 + 8 + 5 + 1)); /* odd length: padded */
	n = 14 + 20 + 8 + 20 + 8 + 5;
	assert_int_equal(csum_check(in + 34, n - 34 + 1), 0);
	uint64_t before = stat_packets(f, KX_STAT_ICMP_ERROR_REVNAT);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6); /* delivered to the client */
	assert_addr(IPV4(out)->saddr, "12.0.182.78"); /* from the VIP */
	assert_addr(IPV4(out)->daddr, "12.0.2.10");
	assert_ipv4_csum_ok(out);
	assert_addr(IPV4(out + 28)->saddr, "12.0.2.10"); /* quote: client -> VIP:53 */
	assert_addr(IPV4(out + 28)->daddr, "12.0.182.78");
	assert_int_equal(ntohs(PORTS(out + 28)->source), 49000);
	assert_int_equal(ntohs(PORTS(out + 28)->dest), 53);
	assert_ipv4_csum_ok(out + 28); /* the quote: IPv4 28 bytes on, as in a frame */
	out[n] = 0;
	assert_int_equal(csum_check((uint8_t *)ICMP(out), n - 34 + 1), 0); /* the ICMP checksum */
	assert_int_equal(stat_packets(f, KX_STAT_ICMP_ERROR_REVNAT), before + 1);
}


/*
 * The ICMP error frame in (n bytes) goes through tc_from_pod to the client
 * pod: from vip, quoting client:cport -> vip:vport, every checksum valid.
 */
static void assert_error_reaches_client(struct fx *f, const uint8_t *in, size_t n,
					const char *vip, const char *client, uint16_t cport,
					uint16_t vport)
{
	uint8_t out[KX_RUN_OUT];
	struct frame o, q;
	uint32_t len;

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	o = frame_of(out, len);
	assert_memory_equal(o.eth->h_dest, client_mac, 6);
	assert_addr(o.ip->saddr, vip);
	assert_addr(o.ip->daddr, client);
	assert_int_equal(csum_check((uint8_t *)o.ip, 20), 0);
	q = frame_of(out + 8 + 20, len - 8 - 20); /* the quote, as if it were a frame */
	assert_addr(q.ip->saddr, client);
	assert_port(q.udp->source, cport);
	assert_addr(q.ip->daddr, vip);
	assert_port(q.udp->dest, vport);
	assert_int_equal(csum_check((uint8_t *)q.ip, 20), 0);
	out[n] = 0; /* odd length: padded */
	assert_int_equal(csum_check((uint8_t *)o.icmp, n - 34 + 1), 0);
}

/*
 * A pod that reached itself through its Service (hairpin) and answers with
 * an ICMP error: the quote is what it received (VIP:cport -> itself:bport)
 * and goes back to what it sent (itself:cport -> VIP:port), the error comes
 * from the VIP, and every checksum still verifies. Before, errors about
 * SNATed flows were left untranslated: the pod's socket never learnt.
 */
static void test_icmp_error_about_a_hairpin_flow_translated(void **state)
{
	struct fx *f = *state;
	uint8_t in[160], out[256], got[128];
	struct frame o;
	size_t n;

	set_service_and_vip(f, "12.0.182.79", 53, IPPROTO_UDP, "12.0.2.10", 5353);
	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 41000, "12.0.182.79", 53, "query",
			out);
	assert_addr(o.ip->saddr, "12.0.182.79"); /* hairpin: from the VIP, to itself */
	assert_port(o.udp->source, 41000);
	assert_addr(o.ip->daddr, "12.0.2.10");
	memcpy(got, out, 14 + 20 + 8 + 5);

	n = build_icmp_error(in, host_mac_a, client_mac, ip4("12.0.2.10"), ip4("12.0.182.79"),
			     got + 14);
	assert_error_reaches_client(f, in, n, "12.0.182.79", "12.0.2.10", 41000, 53);
}

/*
 * The same for a flow whose source port a clash changed (one socket, two
 * Services on one backend): the backend's error quotes the moved port and
 * reaches the client as about its own port and the VIP it asked.
 */
static void test_icmp_error_about_a_moved_port_flow_translated(void **state)
{
	struct fx *f = *state;
	uint8_t in[160], out[256], got[128];
	struct frame o;
	size_t n;

	set_two_services(f, "12.0.128.22", "12.0.128.23", 53, IPPROTO_UDP, "12.0.2.20", 5353);
	udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40100, "12.0.128.22", 53, "q1", out);
	o = udp_through(f, host_mac_a, client_mac, "12.0.2.10", 40100, "12.0.128.23", 53, "query",
			out);
	assert_int_not_equal(ntohs(o.udp->source), 40100);
	memcpy(got, out, 14 + 20 + 8 + 5);

	n = build_icmp_error(in, host_mac_b, backend_mac, ip4("12.0.2.20"), ip4("12.0.2.10"),
			     got + 14);
	assert_error_reaches_client(f, in, n, "12.0.128.23", "12.0.2.10", 40100, 53);
}

static void test_unallocated_clusterip_refused(void **state)
{
	struct kx_config c = { .svc_cidr = ip4("12.0.128.0"), .svc_mask = ip4("255.255.128.0") };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_REJECT_NO_SERVICE);
	uint32_t len, zero = 0;
	size_t n;

	assert_int_equal(bpf_map_update_elem(f->m.config, &zero, &c, BPF_ANY), 0);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 43100, "12.0.200.7",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_int_equal(out[23], IPPROTO_ICMP);
	assert_int_equal(ICMP(out)->type, 3);
	assert_int_equal(ICMP(out)->code, 3);
	assert_addr(IPV4(out)->saddr, "12.0.200.7");
	assert_int_equal(csum_check((uint8_t *)ICMP(out), 8 + 20 + 20), 0);
	assert_int_equal(stat_packets(f, KX_STAT_REJECT_NO_SERVICE), before + 1);
	/* outside the Service CIDR: none of kxdp's business */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 43101, "12.1.0.7", 80,
		     0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	memset(&c, 0, sizeof(c));
	assert_int_equal(bpf_map_update_elem(f->m.config, &zero, &c, BPF_ANY), 0);
}

static void test_spoofed_source_dropped_and_counted(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_DROP_SPOOFED);
	uint32_t len;
	size_t n;

	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.99", 1234, "12.0.2.30",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SPOOFED), before + 1);

	/* A pod's own address on another pod's veth is spoofed too. */
	add_endpoint(f, "12.0.2.40", other_mac, host_mac_b, 9999);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.40", 1234, "12.0.2.30",
		     80, 0, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SPOOFED), before + 2);
}

/*
 * kx_endpoints is an array by the low 16 bits of the address: an address
 * sharing a pod's slot is not that pod (not delivered to it, not allowed as
 * its source), and the user side refuses to give one slot to two pods.
 */
static void test_endpoint_slot_belongs_to_one_address(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	struct kx_endpoint ep = { .addr = ip4("12.1.2.30"), .ifindex = 7 }, got;
	uint64_t spoofed = stat_packets(f, KX_STAT_DROP_SPOOFED);
	struct kx_err err;
	uint32_t len;
	size_t n;

	assert_int_equal(kx_endpoint_slot(ip4("12.1.2.30")), kx_endpoint_slot(ip4("12.0.2.30")));
	assert_int_equal(kx_endpoint_slot(ip4("12.0.2.30")), 2 * 256 + 30);
	/* 12.0.2.30 is a pod (fixture); 12.1.2.30 shares its slot */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 1000, "12.1.2.30",
		     80, 0x02, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK); /* to the kernel */
	assert_memory_equal(out, in, n);
	n = build_l4(in, host_mac_b, backend_mac, IPPROTO_TCP, "12.1.2.30", 80, "12.0.2.10",
		     1000, 0x12, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_SHOT);
	assert_int_equal(stat_packets(f, KX_STAT_DROP_SPOOFED), spoofed + 1);

	assert_int_equal(kx_endpoint_put(f->m.endpoints, &ep, &err), -1);
	assert_non_null(strstr(err.msg, "pod 12.1.2.30 would take the slot of pod 12.0.2.30"));
	assert_int_equal(kx_endpoint_get(f->m.endpoints, ip4("12.0.2.30"), &got), 0);
	assert_int_equal(kx_endpoint_get(f->m.endpoints, ip4("12.1.2.30"), &got), -1);
	kx_endpoint_del(f->m.endpoints, ip4("12.1.2.30")); /* not its slot: no effect */
	assert_int_equal(kx_endpoint_get(f->m.endpoints, ip4("12.0.2.30"), &got), 0);
}

struct walk {
	int inner_fd; /* walked from inside each visit of the outer walk; -1: none */
	uint32_t seen[8];
	int n;
};

static int note_inner(const struct kx_endpoint *ep, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int note_outer(const struct kx_endpoint *ep, void *ctx)
{
	struct walk *w = ctx;
	int inner = 0;

	if (w->n < 8)
		w->seen[w->n++] = ep->addr;
	if (w->inner_fd >= 0) {
		assert_int_equal(kx_endpoint_foreach(w->inner_fd, note_inner, &inner), 0);
		assert_int_equal(inner, 1);
	}
	return 0;
}

/*
 * kx_endpoint_foreach is reentrant: a walk of another node's map from inside
 * a walk (two agents' maps in one process, a callback that asks) leaves the
 * outer walk seeing its own pods. With the static batch buffers it had, the
 * inner walk overwrote them and the outer one saw the other map's pod.
 */
static void test_endpoint_walks_nest(void **state)
{
	struct fx *f = *state;
	struct kxdp *other;
	struct kx_maps om;
	struct kx_endpoint ep = { .addr = ip4("12.0.9.9"), .ifindex = POD_IFINDEX };
	struct walk w = { .inner_fd = -1 };
	uint32_t slot = kx_endpoint_slot(ep.addr);

	assert_int_equal(kx_fx_load(&other, &om), 0);
	assert_int_equal(bpf_map_update_elem(om.endpoints, &slot, &ep, BPF_ANY), 0);
	assert_int_equal(kx_endpoint_foreach(f->m.endpoints, note_outer, &w), 0);
	assert_int_equal(w.n, 3); /* the three pods of fresh_maps */
	w = (struct walk){ .inner_fd = om.endpoints };
	assert_int_equal(kx_endpoint_foreach(f->m.endpoints, note_outer, &w), 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.seen[0], ip4("12.0.2.10"));
	assert_int_equal(w.seen[1], ip4("12.0.2.20"));
	assert_int_equal(w.seen[2], ip4("12.0.2.30"));
	kxdp__destroy(other);
}

static void test_truncated_and_foreign_frames_pass_untouched(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	/* Just an Ethernet header (BPF_PROG_RUN needs at least that much) */
	memset(in, 0, sizeof(in));
	memcpy(in, host_mac_a, 6);
	put16(in + 12, 0x0806);
	assert_int_equal(run(f->from_pod, in, 14, out, &len), TC_ACT_OK);
	/* IPv4 whose header length is invalid (ihl 4) */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 44000, "12.0.182.73",
		     5432, 0x02, NULL);
	in[14] = 0x44;
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	/* IPv4 claiming 40 bytes of options the frame does not hold */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 44000, "12.0.128.10",
		     53, 0, NULL);
	in[14] = 0x4f;
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	/* TCP to a VIP with its header cut short: not load-balanced, left to the kernel */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 44000, "12.0.182.73",
		     5432, 0x02, NULL);
	put16(in + 16, 20 + 10);
	in[24] = in[25] = 0;
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, 14 + 20 + 10, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, 14 + 20 + 10);
	/* IPv6 and other EtherTypes: untouched */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 44001, "12.0.182.73",
		     5432, 0x02, NULL);
	put16(in + 12, 0x86dd);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	/* A fragment is never load-balanced */
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "12.0.2.10", 44002, "12.0.128.10",
		     53, 0, "frag");
	put16(in + 20, 0x2000); /* MF */
	in[24] = in[25] = 0;
	put16(in + 24, csum_check(in + 14, 20));
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
}

static void test_tc_to_pod_host_backend_reply(void **state)
{
	const char *ips[] = { "10.124.242.130" };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.128.1", 443, IPPROTO_TCP, ips, 6443, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 45000, "12.0.128.1",
		     443, 0x02, NULL);
	/* the node's own address is no local pod: DNAT, then the kernel delivers */
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_addr(IPV4(out)->daddr, "10.124.242.130");
	assert_int_equal(ntohs(PORTS(out)->dest), 6443);
	assert_l4_csum_ok(out);

	n = build_l4(in, client_mac, host_mac_a, IPPROTO_TCP, "10.124.242.130", 6443, "12.0.2.10",
		     45000, 0x12, NULL);
	assert_int_equal(run(f->to_pod, in, n, out, &len), TC_ACT_OK);
	assert_addr(IPV4(out)->saddr, "12.0.128.1");
	assert_int_equal(ntohs(PORTS(out)->source), 443);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);

	/* Unrelated traffic to the pod is untouched. */
	n = build_l4(in, client_mac, host_mac_a, IPPROTO_TCP, "10.124.242.130", 22, "12.0.2.10",
		     45001, 0x12, NULL);
	assert_int_equal(run(f->to_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
}

/*
 * A hostPort: a pod of this node reached another through the node's address,
 * netfilter DNATed it and the stack delivered it (tc_to_pod). The reply must
 * go back through the stack for netfilter to undo the DNAT; redirected
 * straight into the client pod it would carry the wrong source.
 */
static void test_hostport_reply_goes_back_through_the_stack(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_STACK_REPLY);
	struct kx_ct_key k = { .saddr = ip4("12.0.2.30"), .daddr = ip4("12.0.2.10"),
			       .sport = htons(9000), .dport = htons(41000), .proto = IPPROTO_TCP };
	struct kx_ct_val v;
	uint32_t len;
	size_t n;

	/* without the stack's flow on record, a reply is redirected into the client */
	n = build_l4(in, host_mac_b, other_mac, IPPROTO_TCP, "12.0.2.30", 9000, "12.0.2.10",
		     41000, 0x12, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	/* the SYN as the stack delivers it, after its DNAT: untouched, recorded */
	n = build_l4(in, other_mac, host_mac_b, IPPROTO_TCP, "12.0.2.10", 41000, "12.0.2.30",
		     9000, 0x02, NULL);
	assert_int_equal(run(f->to_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	assert_int_equal(bpf_map_lookup_elem(f->m.ct, &k, &v), 0);
	assert_int_equal(v.dir, KX_CT_REPLY);
	assert_true(v.flags & KX_CT_F_STACK);
	/* now the reply goes to the stack, untouched, and is counted */
	n = build_l4(in, host_mac_b, other_mac, IPPROTO_TCP, "12.0.2.30", 9000, "12.0.2.10",
		     41000, 0x12, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	assert_int_equal(stat_packets(f, KX_STAT_STACK_REPLY), before + 1);
	/* UDP too, from its first datagram */
	n = build_l4(in, other_mac, host_mac_b, IPPROTO_UDP, "12.0.2.10", 41001, "12.0.2.30",
		     9000, 0, NULL);
	assert_int_equal(run(f->to_pod, in, n, out, &len), TC_ACT_OK);
	n = build_l4(in, host_mac_b, other_mac, IPPROTO_UDP, "12.0.2.30", 9000, "12.0.2.10",
		     41001, 0, NULL);
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_int_equal(stat_packets(f, KX_STAT_STACK_REPLY), before + 2);
	/* the node's own traffic into a pod records nothing (its replies reach the stack anyway) */
	n = build_l4(in, other_mac, host_mac_b, IPPROTO_TCP, "10.124.242.130", 41002, "12.0.2.30",
		     9000, 0x02, NULL);
	assert_int_equal(run(f->to_pod, in, n, out, &len), TC_ACT_OK);
	k.daddr = ip4("10.124.242.130");
	k.dport = htons(41002);
	if (!bpf_map_lookup_elem(f->m.ct, &k, &v))
		fail_msg("entry dir %d flags %x nat %x", v.dir, v.flags, v.nat_addr);
}

static void test_tc_netdev_remote_backend_reply_and_delivery(void **state)
{
	const char *ips[] = { "12.0.1.93" }; /* a backend on another node */
	static const uint8_t uplink_mac[6] = { 0x02, 0xee, 0, 0, 0, 1 },
			     peer_mac[6] = { 0x02, 0xee, 0, 0, 0, 2 };
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n;

	set_service(f, "12.0.182.73", 5432, IPPROTO_TCP, ips, 5001, 1);
	n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 49000, "12.0.182.73",
		     5432, 0x02, NULL);
	/* not a local pod: DNAT, then the kernel routes it to the other node */
	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_OK);
	assert_addr(IPV4(out)->daddr, "12.0.1.93");
	assert_memory_equal(out, in, 12); /* the kernel sets the MACs */

	/* the reply comes back over the uplink: VIP restored, straight into the client */
	n = build_l4(in, uplink_mac, peer_mac, IPPROTO_TCP, "12.0.1.93", 5001, "12.0.2.10", 49000,
		     0x12, "hi");
	assert_int_equal(run(f->tc_netdev, in, n, out, &len), TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, client_mac, 6);
	assert_memory_equal(ETH(out)->h_source, host_mac_a, 6);
	assert_addr(IPV4(out)->saddr, "12.0.182.73");
	assert_int_equal(ntohs(PORTS(out)->source), 5432);
	assert_ipv4_csum_ok(out);
	assert_l4_csum_ok(out);

	/* another node's pod talking to a local pod: delivered, bytes above L2 untouched */
	n = build_l4(in, uplink_mac, peer_mac, IPPROTO_UDP, "12.0.1.7", 999, "12.0.2.30", 53, 0,
		     "q");
	assert_int_equal(run(f->tc_netdev, in, n, out, &len), TC_ACT_REDIRECT);
	assert_memory_equal(ETH(out)->h_dest, other_mac, 6);
	assert_memory_equal(out + 12, in + 12, n - 12);

	/* anything else: to the kernel, untouched */
	n = build_l4(in, uplink_mac, peer_mac, IPPROTO_TCP, "10.124.242.131", 22, "10.124.242.130",
		     40000, 0x10, NULL);
	assert_int_equal(run(f->tc_netdev, in, n, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	put16(in + 12, 0x0806);
	assert_int_equal(run(f->tc_netdev, in, 42, out, &len), TC_ACT_OK);
	assert_memory_equal(out, in, 42);
}

static void test_xdp_netdev_passes_and_counts(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], out[256];
	uint64_t before = stat_packets(f, KX_STAT_XDP_PASS);
	size_t n = build_l4(in, host_mac_a, client_mac, IPPROTO_UDP, "10.124.242.131", 1000,
			    "12.0.2.10", 53, 0, "x");
	uint32_t len;

	assert_int_equal(kx_run_xdp(f->xdp_netdev, 0, in, n, out, &len), XDP_PASS);
	assert_int_equal(len, n);
	assert_memory_equal(out, in, n);
	assert_int_equal(stat_packets(f, KX_STAT_XDP_PASS), before + 1);
}

static void test_sync_reconciles_in_place(void **state)
{
	const char *two[] = { "12.0.2.20", "12.0.2.30" }, *one[] = { "12.0.2.30" };
	struct fx *f = *state;
	struct kx_snapshot s;
	struct kx_slot_key sk;
	struct kx_err err;
	uint32_t id, bid;

	set_service(f, "12.0.182.50", 80, IPPROTO_TCP, two, 8080, 2);
	assert_int_equal(kx_snapshot_read(&f->m, &s, &err), 0);
	assert_int_equal(s.n_svcs, 1); /* the other services of earlier tests are gone */
	assert_int_equal(s.svcs[0].val.count, 2);
	id = s.svcs[0].val.id;
	assert_int_equal(s.n_backends, 2);
	kx_snapshot_free(&s);

	set_service(f, "12.0.182.50", 80, IPPROTO_TCP, one, 8080, 1);
	assert_int_equal(kx_snapshot_read(&f->m, &s, &err), 0);
	assert_int_equal(s.n_svcs, 1);
	assert_int_equal(s.svcs[0].val.id, id); /* same id: the rr counter and CT stay valid */
	assert_int_equal(s.svcs[0].val.count, 1);
	/* the new set was written to the other slot range and published at once */
	assert_true(s.svcs[0].val.flags & KX_SVC_F_SLOTS_HIGH);
	assert_int_equal(s.n_backends, 1);
	assert_int_equal(s.backends[0].b.addr, ip4("12.0.2.30"));
	sk.svc_id = id;
	sk.slot = KX_SLOT_HIGH_BASE;
	assert_int_equal(bpf_map_lookup_elem(f->m.slots, &sk, &bid), 0);
	assert_int_equal(bid, s.backends[0].id);
	for (sk.slot = 0; sk.slot < 2; sk.slot++) /* the old range is gone */
		assert_int_equal(bpf_map_lookup_elem(f->m.slots, &sk, &bid), -ENOENT);
	sk.slot = KX_SLOT_HIGH_BASE + 1;
	assert_int_equal(bpf_map_lookup_elem(f->m.slots, &sk, &bid), -ENOENT);
	kx_snapshot_free(&s);

	/* Applying the same table again writes nothing and keeps the range. */
	struct kx_sync_stats st;
	struct kx_backend_desc b = { ip4("12.0.2.30"), 8080, IPPROTO_TCP, KX_BACKEND_ACTIVE };
	struct kx_svc_desc d = { .key = { ip4("12.0.182.50"), htons(80), IPPROTO_TCP,
					  KX_SCOPE_INTERNAL },
				 .backends = &b, .n_backends = 1 };
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };

	assert_int_equal(kx_sync_apply(&f->m, &t, &st, &err), 0);
	assert_int_equal(st.svc_added + st.svc_changed + st.svc_removed, 0);
	assert_int_equal(st.backends_added + st.backends_removed, 0);
	assert_int_equal(kx_snapshot_read(&f->m, &s, &err), 0);
	assert_true(s.svcs[0].val.flags & KX_SVC_F_SLOTS_HIGH);
	kx_snapshot_free(&s);

	/* And traffic follows the published range. */
	uint8_t in[128], out[256];
	uint32_t len;
	size_t n = build_l4(in, host_mac_a, client_mac, IPPROTO_TCP, "12.0.2.10", 48000,
			    "12.0.182.50", 80, 0x02, NULL);

	assert_int_equal(run(f->from_pod, in, n, out, &len), TC_ACT_REDIRECT);
	assert_addr(IPV4(out)->daddr, "12.0.2.30");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_arp_request_answered_with_host_mac, fresh_maps),
		cmocka_unit_test_setup(test_pod_to_pod_redirect_rewrites_macs, fresh_maps),
		cmocka_unit_test_setup(test_syn_to_vip_round_robin_dnat, fresh_maps),
		cmocka_unit_test_setup(test_syn_on_stale_conntrack_reselects, fresh_maps),
		cmocka_unit_test_setup(test_port_reuse_after_close_is_a_new_connection, fresh_maps),
		cmocka_unit_test_setup(test_backend_reply_reverse_nat, fresh_maps),
		cmocka_unit_test_setup(test_udp_dnat_and_reply, fresh_maps),
		cmocka_unit_test_setup(test_one_socket_two_services_sharing_a_backend, fresh_maps),
		cmocka_unit_test_setup(test_closed_tuple_is_taken_until_it_expires, fresh_maps),
		cmocka_unit_test_setup(test_hairpin_made_again_keeps_its_port, fresh_maps),
		cmocka_unit_test_setup(test_no_endpoint_icmp_port_unreachable, fresh_maps),
		cmocka_unit_test_setup(test_clusterip_other_port_refused_and_ping_answered, fresh_maps),
		cmocka_unit_test_setup(test_fragment_to_clusterip_dropped_and_counted, fresh_maps),
		cmocka_unit_test_setup(test_icmp_error_from_backend_translated_for_the_client, fresh_maps),
		cmocka_unit_test_setup(test_icmp_error_about_a_hairpin_flow_translated, fresh_maps),
		cmocka_unit_test_setup(test_icmp_error_about_a_moved_port_flow_translated, fresh_maps),
		cmocka_unit_test_setup(test_unallocated_clusterip_refused, fresh_maps),
		cmocka_unit_test_setup(test_spoofed_source_dropped_and_counted, fresh_maps),
		cmocka_unit_test_setup(test_endpoint_slot_belongs_to_one_address, fresh_maps),
		cmocka_unit_test_setup(test_endpoint_walks_nest, fresh_maps),
		cmocka_unit_test_setup(test_truncated_and_foreign_frames_pass_untouched, fresh_maps),
		cmocka_unit_test_setup(test_tc_to_pod_host_backend_reply, fresh_maps),
		cmocka_unit_test_setup(test_hostport_reply_goes_back_through_the_stack, fresh_maps),
		cmocka_unit_test_setup(test_tc_netdev_remote_backend_reply_and_delivery, fresh_maps),
		cmocka_unit_test_setup(test_xdp_netdev_passes_and_counts, fresh_maps),
		cmocka_unit_test_setup(test_udp_flows_of_a_removed_backend_are_purged, fresh_maps),
		cmocka_unit_test_setup(test_pod_hairpins_to_itself_through_its_service, fresh_maps),
		cmocka_unit_test_setup(test_sync_reconciles_in_place, fresh_maps),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("datapath", tests, setup, kx_fx_teardown);
}
