// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized packets through every program (BPF_PROG_RUN): valid TCP, UDP
 * and ICMP frames to services, pods and elsewhere, then the same mangled -
 * truncated, fragmented, with IP options, bad lengths, random bytes, ICMP
 * errors quoting random packets. Invariants on every run:
 * - the verdict is one the hook allows;
 * - a frame that is no service's (its destination is no VIP and it matched
 *   no conntrack entry) leaves with its IPv4 and L4 bytes untouched;
 * - a rewritten frame whose checksums were valid has valid checksums.
 * Deterministic (seeded). KX_PKTFUZZ_RUNS sets the count per program.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

#define VIP "12.0.182.73"
static const uint8_t mac_a[6] = { 2, 0xc1, 0, 0, 0, 1 }, mac_b[6] = { 2, 0xb1, 0, 0, 0, 2 };
static const char *const pods[] = { "12.0.2.10", "12.0.2.20", "12.0.2.30" };
static const char *const dsts[] = { VIP, "12.0.2.20", "12.0.2.30", "12.1.0.9", "10.124.242.131",
				    "8.8.8.8" };

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	int progs[4];
	bool xdp[4];
	const char *names[4];
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kx_backend_desc b[2] = { { ip4("12.0.2.20"), 5001, IPPROTO_TCP, 0 },
					{ ip4("12.0.2.30"), 5001, IPPROTO_TCP, 0 } };
	struct kx_backend_desc u[1] = { { ip4("12.0.2.30"), 5353, IPPROTO_UDP, 0 } };
	struct kx_svc_desc d[3] = {
		{ .key = { ip4(VIP), 0, 0, KX_SCOPE_INTERNAL }, .flags = KX_SVC_F_VIP },
		{ .key = { ip4(VIP), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL }, .backends = b,
		  .n_backends = 2 },
		{ .key = { ip4(VIP), htons(53), IPPROTO_UDP, KX_SCOPE_INTERNAL }, .backends = u,
		  .n_backends = 1 },
	};
	struct kx_table t = { .svcs = d, .n_svcs = 3 };
	struct kx_err err;

	if (kx_fx_load(&f->skel, &f->m))
		return -1;
	for (int i = 0; i < 3; i++) {
		strcpy(d[i].owner, "t/s");
		strcpy(d[i].name, "t/s");
	}
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		struct kx_endpoint ep = { .addr = ip4(pods[i]), .ifindex = 1 };
		uint32_t slot = kx_endpoint_slot(ep.addr);

		memcpy(ep.pod_mac, mac_a, 6);
		memcpy(ep.host_mac, mac_b, 6);
		bpf_map_update_elem(f->m.endpoints, &slot, &ep, BPF_ANY);
	}
	f->progs[0] = bpf_program__fd(f->skel->progs.tc_from_pod);
	f->progs[1] = bpf_program__fd(f->skel->progs.tc_to_pod);
	f->progs[2] = bpf_program__fd(f->skel->progs.tc_netdev);
	f->progs[3] = bpf_program__fd(f->skel->progs.xdp_netdev);
	f->xdp[3] = true;
	f->names[0] = "tc_from_pod";
	f->names[1] = "tc_to_pod";
	f->names[2] = "tc_netdev";
	f->names[3] = "xdp_netdev";
	*state = f;
	return 0;
}

/* A random frame; *valid says whether its IPv4 and L4 checksums are right. */
static size_t random_frame(uint8_t *buf, bool *valid)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_TCP };
	const char *src = pods[rnd() % 3], *dst = dsts[rnd() % 6];
	uint8_t proto = protos[rnd() % 3];
	uint16_t dport = rnd() % 4 ? (proto == IPPROTO_TCP ? 80 : 53) : (uint16_t)rnd();
	uint8_t flags = (uint8_t[]){ 0x02, 0x10, 0x12, 0x11, 0x04, 0x18 }[rnd() % 6];
	char payload[40] = "";
	size_t n;

	snprintf(payload, sizeof(payload), "%.*s", (int)(rnd() % 30), "abcdefghijklmnopqrstuvwxyz0123");
	n = build_l4(buf, mac_b, mac_a, proto, src, (uint16_t)(1024 + rnd() % 60000), dst, dport,
		     flags, payload);
	*valid = true;
	switch (rnd() % 10) {
	case 0: /* truncated anywhere */
		n = rnd() % n;
		*valid = false;
		break;
	case 1: /* a fragment (first or later) */
		put16(buf + 20, rnd() % 2 ? 0x2000 : (uint16_t)(rnd() & 0x1fff));
		put16(buf + 24, 0);
		put16(buf + 24, csum_check(buf + 14, 20));
		break;
	case 2: /* random bytes after the Ethernet header */
		for (size_t i = 14; i < n; i++)
			buf[i] = (uint8_t)rnd();
		*valid = false;
		break;
	case 3: /* IHL > 5: options the header claims (bytes not shifted: garbage L4) */
		buf[14] = (uint8_t)(0x40 | (6 + rnd() % 10));
		*valid = false;
		break;
	case 4: /* a lying total length */
		put16(buf + 16, (uint16_t)rnd());
		*valid = false;
		break;
	case 5: { /* an ICMP error quoting this packet */
		uint8_t q[128];
		size_t ql = n - 14 < 48 ? n - 14 : 48;

		memcpy(q, buf + 14, ql);
		memset(buf + 14, 0, 28);
		buf[14] = 0x45;
		buf[22] = 64;
		buf[23] = IPPROTO_ICMP;
		memcpy(buf + 26, q + 16, 4);
		memcpy(buf + 30, q + 12, 4);
		buf[34] = 3;
		buf[35] = (uint8_t)(rnd() % 5);
		memcpy(buf + 42, q, ql);
		n = 42 + ql + (ql & 1);
		buf[n - 1] &= ql & 1 ? 0 : 0xff;
		put16(buf + 16, (uint16_t)(n - 14));
		put16(buf + 24, csum_check(buf + 14, 20));
		put16(buf + 36, csum_check(buf + 34, n - 34));
		break;
	}
	default:
		break;
	}
	return n;
}

/* Did the input's own tuple hit a conntrack reply entry (a backend answering)? */
static bool is_ct_reply(struct fx *f, const uint8_t *in)
{
	struct kx_ct_key k = { 0 };
	struct kx_ct_val v;
	size_t l4 = 14 + (size_t)(in[14] & 0xf) * 4;

	memcpy(&k.saddr, in + 26, 4);
	memcpy(&k.daddr, in + 30, 4);
	memcpy(&k.sport, in + l4, 2);
	memcpy(&k.dport, in + l4 + 2, 2);
	k.proto = in[23];
	return !bpf_map_lookup_elem(f->m.ct, &k, &v) && v.dir == KX_CT_REPLY;
}

static bool l3_checksums_ok(const uint8_t *f, size_t n)
{
	size_t tot;

	if (n < 34 || (f[14] >> 4) != 4 || (f[14] & 0xf) != 5)
		return true; /* nothing we can judge */
	tot = get16(f + 16);
	if (csum_check(f + 14, 20))
		return false;
	if (tot + 14 != n || (get16(f + 20) & 0x3fff))
		return true; /* fragments and odd lengths: the L4 sum cannot be judged */
	if (f[23] == IPPROTO_TCP || f[23] == IPPROTO_UDP)
		return l4_csum_check(f + 14) == 0 || (f[23] == IPPROTO_UDP && !get16(f + 40));
	return true;
}

static void test_random_packets_keep_the_invariants(void **state)
{
	struct fx *f = *state;
	const char *env = getenv("KX_PKTFUZZ_RUNS");
	long runs = env ? atol(env) : 20000;
	uint8_t in[256], out[512];

	for (int p = 0; p < 4; p++) {
		long rewritten = 0, passed = 0, refused = 0;

		for (long i = 0; i < runs; i++) {
			struct __sk_buff ctx = { .ifindex = 1 };
			bool valid;
			size_t n = random_frame(in, &valid);
			uint32_t dst;
			DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = n,
					    .data_out = out, .data_size_out = sizeof(out),
					    .repeat = 1);

			if (n < 14) /* BPF_PROG_RUN wants at least an Ethernet header */
				continue;
			if (!f->xdp[p]) {
				o.ctx_in = &ctx;
				o.ctx_size_in = sizeof(ctx);
			}
			if (bpf_prog_test_run_opts(f->progs[p], &o)) {
				/* BPF_PROG_RUN refuses some stubs of frames before any program runs */
				if (errno == EINVAL && n < 34) {
					refused++;
					continue;
				}
				fail_msg("%s: BPF_PROG_RUN: %s (frame of %zu bytes, run %ld)",
					 f->names[p], strerror(errno), n, i);
			}
			if (f->xdp[p])
				assert_true(o.retval <= 4); /* ABORTED DROP PASS TX REDIRECT */
			else
				assert_true(o.retval == 0 || o.retval == 2 || o.retval == 7);
			if (o.retval == 2 && !f->xdp[p])
				continue; /* dropped: nothing left to judge */
			memcpy(&dst, in + 30, 4);
			if (o.data_size_out == n && !memcmp(out + 14, in + 14, n - 14)) {
				passed++;
				continue;
			}
			/* changed: it must be service traffic, with checksums kept */
			rewritten++;
			if (n >= 38 && dst != ip4(VIP) && (in[23] == IPPROTO_TCP || in[23] == IPPROTO_UDP))
				assert_true(is_ct_reply(f, in));
			if (valid)
				assert_true(l3_checksums_ok(out, o.data_size_out));
		}
		printf("%s: %ld frames, %ld passed unchanged, %ld rewritten or answered, %ld too short to run\n",
		       f->names[p], runs, passed, rewritten, refused);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_packets_keep_the_invariants),
	};

	kx_log_verbosity = -1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("packet fuzz", tests, setup, kx_fx_teardown);
}
