// SPDX-License-Identifier: GPL-2.0
/*
 * Conntrack GC (user/agent/ctgc.c): flows made by tc_from_pod through BPF_PROG_RUN,
 * aged by rewriting last_seen, then one GC walk: which entries go, which
 * stay, and that deletions are counted as such (no eviction reported). And
 * the ct_clock program: jiffies that advance at a standard HZ. Needs root.
 */
#include <errno.h>
#include <netinet/in.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "agent/ctgc.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

#define HZ 100 /* the GC is given its HZ: ages below are in these jiffies */

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	uint64_t now;
};

static const uint8_t pod_mac[6] = { 2, 0xc1, 0, 0, 0, 1 };
static const uint8_t host_mac[6] = { 2, 0xaa, 0, 0, 0, 1 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	return kx_fx_load(&f->skel, &f->m);
}

/* Before each test: every map empty, then the client pod and the two Services. */
static int fresh_maps(void **state)
{
	struct fx *f = *state;
	struct kx_backend_desc bt = { ip4("12.1.0.5"), 5001, IPPROTO_TCP, KX_BACKEND_ACTIVE };
	struct kx_backend_desc bu = { ip4("12.1.0.5"), 5353, IPPROTO_UDP, KX_BACKEND_ACTIVE };
	struct kx_svc_desc d[2] = {
		{ .key = { ip4("12.0.182.73"), htons(5432), IPPROTO_TCP, KX_SCOPE_INTERNAL },
		  .backends = &bt, .n_backends = 1 },
		{ .key = { ip4("12.0.182.73"), htons(53), IPPROTO_UDP, KX_SCOPE_INTERNAL },
		  .backends = &bu, .n_backends = 1 },
	};
	struct kx_table t = { .svcs = d, .n_svcs = 2 };
	struct kx_endpoint ep = { .addr = ip4("12.0.2.10"), .ifindex = 1 };
	uint32_t slot = kx_endpoint_slot(ep.addr);
	struct kx_err err;

	kx_fx_reset(f->skel);
	memcpy(ep.pod_mac, pod_mac, 6);
	memcpy(ep.host_mac, host_mac, 6);
	strcpy(d[0].owner, "t/tcp");
	strcpy(d[0].name, "t/tcp");
	strcpy(d[1].owner, "t/udp");
	strcpy(d[1].name, "t/udp");
	if (bpf_map_update_elem(f->m.endpoints, &slot, &ep, BPF_ANY) ||
	    kx_sync_apply(&f->m, &t, NULL, &err)) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* A new flow from 12.0.2.10:sport to the service of proto: both entries made. */
static void new_flow(struct fx *f, uint8_t proto, uint16_t sport)
{
	int prog = bpf_program__fd(f->skel->progs.tc_from_pod);
	uint8_t in[128], out[KX_RUN_OUT];
	size_t len = build_l4(in, host_mac, pod_mac, proto, "12.0.2.10", sport, "12.0.182.73",
			      proto == IPPROTO_TCP ? 5432 : 53, 0x02, "q");
	uint32_t out_len;

	/* TC_ACT_OK: DNAT to the (remote) backend */
	assert_int_equal(kx_run_tc(prog, 1, in, len, out, &out_len), TC_ACT_OK);
	assert_int_equal(((uint8_t *)&IPV4(out)->daddr)[3], 5);
}

/* The flow's two keys: client -> VIP (forward), backend -> client (reply). */
static void flow_keys(uint8_t proto, uint16_t sport, struct kx_ct_key *fwd, struct kx_ct_key *rep)
{
	*fwd = (struct kx_ct_key){ ip4("12.0.2.10"), ip4("12.0.182.73"), htons(sport),
				   htons(proto == IPPROTO_TCP ? 5432 : 53), proto, { 0 } };
	*rep = (struct kx_ct_key){ ip4("12.1.0.5"), ip4("12.0.2.10"),
				   htons(proto == IPPROTO_TCP ? 5001 : 5353), htons(sport), proto, { 0 } };
}

/* Make entry k last seen age_s seconds ago, optionally closing. */
static void age(struct fx *f, const struct kx_ct_key *k, uint32_t age_s, bool closing)
{
	struct kx_ct_val v;

	assert_int_equal(bpf_map_lookup_elem(f->m.ct, k, &v), 0);
	v.last_seen = f->now - (uint64_t)age_s * HZ;
	if (closing)
		v.flags |= KX_CT_F_CLOSING;
	assert_int_equal(bpf_map_update_elem(f->m.ct, k, &v, BPF_EXIST), 0);
}

static bool has(struct fx *f, const struct kx_ct_key *k)
{
	struct kx_ct_val v;

	return !bpf_map_lookup_elem(f->m.ct, k, &v);
}

/*
 * Six flows, aged: TCP established idle 1,000 s (stays: 24 h), TCP closing
 * idle 200 s (goes: 120 s) and 60 s (stays), UDP idle 200 s one way but
 * answered 10 s ago (stays: the flow is alive), UDP idle 200 s both ways
 * (goes), and a UDP entry whose twin is gone, idle 200 s (goes alone).
 */
static void test_gc_deletes_idle_flows_and_counts_them(void **state)
{
	struct kx_ct_timeouts to = KX_CT_TIMEOUTS_DEFAULT;
	struct kx_ct_key fk[6], rk[6];
	struct kx_ct_gc_result r;
	struct kx_ct_usage u;
	struct kx_err err;
	struct fx *f = *state;
	static const uint8_t proto[6] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_TCP,
					  IPPROTO_UDP, IPPROTO_UDP, IPPROTO_UDP };

	f->now = 1000000;
	for (int i = 0; i < 6; i++) {
		new_flow(f, proto[i], (uint16_t)(41000 + i));
		flow_keys(proto[i], (uint16_t)(41000 + i), &fk[i], &rk[i]);
		assert_true(has(f, &fk[i]) && has(f, &rk[i]));
	}
	age(f, &fk[0], 1000, false), age(f, &rk[0], 1000, false);
	age(f, &fk[1], 200, true), age(f, &rk[1], 200, true);
	age(f, &fk[2], 60, true), age(f, &rk[2], 60, true);
	age(f, &fk[3], 200, false), age(f, &rk[3], 10, false);
	age(f, &fk[4], 200, false), age(f, &rk[4], 200, false);
	age(f, &fk[5], 200, false);
	assert_int_equal(bpf_map_delete_elem(f->m.ct, &rk[5]), 0);
	assert_int_equal(kx_ct_count_deleted(&f->m, 1), 0);

	assert_int_equal(kx_ct_gc(&f->m, &to, f->now, HZ, &r, &err), 0);
	assert_int_equal(r.scanned, 11);
	assert_int_equal(r.expired, 5);
	assert_true(has(f, &fk[0]) && has(f, &rk[0]));
	assert_false(has(f, &fk[1]) || has(f, &rk[1]));
	assert_true(has(f, &fk[2]) && has(f, &rk[2]));
	assert_true(has(f, &fk[3]) && has(f, &rk[3]));
	assert_false(has(f, &fk[4]) || has(f, &rk[4]));
	assert_false(has(f, &fk[5]));
	assert_int_equal(kx_ct_usage(&f->m, &u), 0);
	assert_int_equal(u.entries, 6);
	assert_int_equal(u.evicted, 0); /* every GC deletion counted */

	/* shorter timeouts take the rest but the answered UDP flow, 10 s ago */
	to = (struct kx_ct_timeouts){ 500, 30, 30 };
	assert_int_equal(kx_ct_gc(&f->m, &to, f->now, HZ, &r, &err), 0);
	assert_int_equal(r.expired, 4);
	assert_true(has(f, &fk[3]) && has(f, &rk[3]));
	/* HZ not known yet: no walk, an error */
	assert_int_equal(kx_ct_gc(&f->m, &to, f->now, 0, &r, &err), -1);
	assert_non_null(strstr(err.msg, "HZ"));
}

/*
 * An old reply entry whose client tuple a newer flow took over (a SYN
 * reusing a closed flow's port, to another backend now) points at the newer
 * flow's forward entry, which does not point back. The old entry goes
 * alone, by its own (closing) timeout; the newer flow, idle 200 s but
 * established (24 h), stays whole. Before, the GC took the newer flow's
 * entry along, judged by the old entry's timeout: a live connection broke.
 */
static void test_gc_takes_no_other_flows_entry_along(void **state)
{
	struct kx_ct_timeouts to = KX_CT_TIMEOUTS_DEFAULT;
	struct kx_ct_key fk, rk, nrk;
	struct kx_ct_val fv, nrv;
	struct kx_ct_gc_result r;
	struct kx_err err;
	struct fx *f = *state;

	f->now = 2000000;
	new_flow(f, IPPROTO_TCP, 42000);
	flow_keys(IPPROTO_TCP, 42000, &fk, &rk);
	/* the newer flow: the same client tuple, to backend 12.1.0.6 now */
	assert_int_equal(bpf_map_lookup_elem(f->m.ct, &fk, &fv), 0);
	assert_int_equal(bpf_map_lookup_elem(f->m.ct, &rk, &nrv), 0);
	fv.nat_addr = ip4("12.1.0.6");
	assert_int_equal(bpf_map_update_elem(f->m.ct, &fk, &fv, BPF_EXIST), 0);
	nrk = rk;
	nrk.saddr = fv.nat_addr;
	assert_int_equal(bpf_map_update_elem(f->m.ct, &nrk, &nrv, BPF_NOEXIST), 0);
	assert_int_equal(kx_ct_count_deleted(&f->m, 0), 0);
	age(f, &rk, 200, true); /* the old flow's reply entry: closed, idle */
	age(f, &fk, 200, false), age(f, &nrk, 200, false);

	assert_int_equal(kx_ct_gc(&f->m, &to, f->now, HZ, &r, &err), 0);
	assert_int_equal(r.expired, 1);
	assert_false(has(f, &rk));
	assert_true(has(f, &fk) && has(f, &nrk));
	assert_int_equal(bpf_map_delete_elem(f->m.ct, &fk), 0);
	assert_int_equal(bpf_map_delete_elem(f->m.ct, &nrk), 0);
	assert_int_equal(kx_ct_count_deleted(&f->m, 2), 0);
}

/* ct_clock's jiffies advance at one of the kernel's HZ values. */
static void test_clock_gives_jiffies_and_hz(void **state)
{
	struct fx *f = *state;
	int fd = bpf_program__fd(f->skel->progs.ct_clock);
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	struct kx_clock a, b, c;
	struct kx_err err;
	unsigned int hz;

	assert_int_equal(kx_ct_clock(fd, &a, &err), 0);
	assert_int_equal(kx_ct_clock(fd, &b, &err), 0);
	assert_int_equal(kx_ct_hz(&a, &b), 0); /* too close to tell */
	nanosleep(&pause, NULL);
	assert_int_equal(kx_ct_clock(fd, &c, &err), 0);
	assert_true(c.jiffies > a.jiffies && c.mono_ns - a.mono_ns >= 300000000ull);
	hz = kx_ct_hz(&a, &c);
	assert_true(hz == 100 || hz == 250 || hz == 300 || hz == 1000);
	print_message("kernel HZ measured: %u\n", hz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_gc_deletes_idle_flows_and_counts_them, fresh_maps),
		cmocka_unit_test_setup(test_gc_takes_no_other_flows_entry_along, fresh_maps),
		cmocka_unit_test_setup(test_clock_gives_jiffies_and_hz, fresh_maps),
	};

	kx_log_verbosity = -1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("conntrack GC", tests, setup, kx_fx_teardown);
}
