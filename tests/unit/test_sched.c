// SPDX-License-Identifier: GPL-2.0
/*
 * Schedulers (kube-router.io/service.scheduler) end to end below the API:
 * a Service JSON through the model and the real sync, then tc_from_pod
 * through BPF_PROG_RUN with SYNs from many clients. mh: how many clients
 * move when one of ten backends goes (Maglev's promise: about that
 * backend's share); sh: a client keeps its backend across its ports;
 * random: every backend gets flows. Needs root.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

#define CLIENTS 10000
#define VIP "12.0.182.60"

static const uint8_t pod_mac[6] = { 0x02, 0xc1, 0, 0, 0, 0x01 };
static const uint8_t host_mac[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
	int from_pod;
};

/* Client i: 12.0.<i / 250>.<i % 250 + 1>, wired behind lo so the anti-spoofing check passes. */
static void client_ip(int i, char *out, size_t n)
{
	snprintf(out, n, "12.0.%d.%d", i / 250, i % 250 + 1);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (kx_fx_load(&f->skel, &f->m))
		return -1;
	f->from_pod = bpf_program__fd(f->skel->progs.tc_from_pod);
	return 0;
}

/* Before each test: every map empty, then the CLIENTS client pods wired behind lo. */
static int fresh_maps(void **state)
{
	struct fx *f = *state;
	char ip[32];

	kx_fx_reset(f->skel);
	for (int i = 0; i < CLIENTS; i++) {
		struct kx_endpoint ep = { .ifindex = 1 };
		uint32_t slot;

		client_ip(i, ip, sizeof(ip));
		ep.addr = ip4(ip);
		slot = kx_endpoint_slot(ep.addr);
		memcpy(ep.pod_mac, pod_mac, 6);
		memcpy(ep.host_mac, host_mac, 6);
		assert_int_equal(bpf_map_update_elem(f->m.endpoints, &slot, &ep, BPF_ANY), 0);
	}
	return 0;
}

/*
 * The Service at VIP:80 with backends 12.1.0.1..n (skipping skip), scheduler
 * sched, extra spec fields (",\"sessionAffinity\":..." or "").
 */
static void apply_spec(struct fx *f, const char *sched, const char *flags, int n, int skip,
		       const char *extra)
{
	char json[8192], eps[6000] = "";
	struct kx_err err = { "" };
	struct k8s_state st;
	struct kx_table t;
	size_t len = 0;

	for (int i = 1; i <= n; i++) {
		if (i == skip)
			continue;
		len += (size_t)snprintf(eps + len, sizeof(eps) - len,
					"%s{\"addresses\":[\"12.1.0.%d\"]}", len ? "," : "", i);
	}
	snprintf(json, sizeof(json),
		 "{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"t\","
		 "\"annotations\":{\"kube-router.io/service.scheduler\":\"%s\","
		 "\"kube-router.io/service.schedflags\":\"%s\"}},"
		 "\"spec\":{\"clusterIP\":\"" VIP "\",\"ports\":[{\"port\":80,\"targetPort\":8080}]%s}},"
		 "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s-1\",\"namespace\":\"t\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"s\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"port\":8080}],\"endpoints\":[%s]}]}",
		 sched, flags, extra, eps);
	if (k8s_decode_string(json, &st, &err) || kx_model_build(&st, "n1", &t, &err))
		fail_msg("model: %s", err.msg);
	k8s_state_free(&st);
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
	kx_table_free(&t);
}

static void apply(struct fx *f, const char *sched, const char *flags, int n, int skip)
{
	apply_spec(f, sched, flags, n, skip, "");
}

/* A SYN from client i, source port sport: the last octet of the backend it is sent to. */
static int backend_of(struct fx *f, int i, uint16_t sport)
{
	uint8_t in[128], out[KX_RUN_OUT];
	uint32_t len;
	char ip[32];
	size_t n;

	client_ip(i, ip, sizeof(ip));
	n = build_l4(in, host_mac, pod_mac, IPPROTO_TCP, ip, sport, VIP, 80, 0x02, NULL);
	/* backends are not on this node */
	assert_int_equal(kx_run_tc(f->from_pod, 1, in, n, out, &len), TC_ACT_OK);
	assert_int_equal(((uint8_t *)&IPV4(out)->daddr)[0], 12);
	assert_int_equal(((uint8_t *)&IPV4(out)->daddr)[1], 1);
	assert_int_equal(l4_csum_check((uint8_t *)IPV4(out)), 0);
	return ((uint8_t *)&IPV4(out)->daddr)[3];
}

/*
 * "mh": removing one of ten backends moves only the clients it had, plus
 * Maglev's small reshuffle: at most 12 % of all clients in total.
 */
static void test_mh_moves_only_the_removed_backends_share(void **state)
{
	static uint8_t before[CLIENTS];
	struct fx *f = *state;
	int moved = 0, lost = 0, per[11] = { 0 };

	apply(f, "mh", "", 10, 0);
	for (int i = 0; i < CLIENTS; i++) {
		before[i] = (uint8_t)backend_of(f, i, 40000);
		per[before[i]]++;
	}
	for (int b = 1; b <= 10; b++) /* an even spread: 10 % each, give or take */
		assert_in_range(per[b], CLIENTS / 10 * 7 / 10, CLIENTS / 10 * 13 / 10);
	apply(f, "mh", "", 10, 4);
	for (int i = 0; i < CLIENTS; i++) {
		int now = backend_of(f, i, 40001); /* a new flow: no conntrack entry */

		assert_int_not_equal(now, 4);
		moved += now != before[i];
		lost += before[i] == 4;
	}
	printf("mh: %d of %d clients moved (%.1f %%), %d had the removed backend\n", moved,
	       CLIENTS, 100.0 * moved / CLIENTS, lost);
	assert_true(moved >= lost);
	assert_true(moved * 100 <= CLIENTS * 12);
}

/* "sh": a client's connections all go to one backend; clients spread over all. */
static void test_sh_keeps_a_client_on_its_backend(void **state)
{
	struct fx *f = *state;
	int first, spread[11] = { 0 }, used = 0;

	apply(f, "sh", "", 5, 0);
	for (int i = 0; i < 200; i++) {
		first = backend_of(f, i, 41000);
		for (uint16_t p = 41001; p < 41004; p++)
			assert_int_equal(backend_of(f, i, p), first);
		spread[first]++;
	}
	for (int b = 1; b <= 5; b++)
		used += spread[b] > 0;
	assert_int_equal(used, 5);
	/* with flag-2 (sh-port) the port counts: one client's ports spread */
	apply(f, "sh", "flag-2", 5, 0);
	memset(spread, 0, sizeof(spread));
	for (uint16_t p = 42000; p < 42100; p++)
		spread[backend_of(f, 0, p)]++;
	used = 0;
	for (int b = 1; b <= 5; b++)
		used += spread[b] > 0;
	assert_true(used >= 4);
}

static void test_random_and_unknown_schedulers(void **state)
{
	struct fx *f = *state;
	int spread[11] = { 0 }, used = 0;

	apply(f, "random", "", 4, 0);
	for (uint16_t p = 43000; p < 43200; p++)
		spread[backend_of(f, 0, p)]++;
	for (int b = 1; b <= 4; b++) {
		used += spread[b] > 0;
		assert_true(spread[b] < 120); /* not stuck on one */
	}
	assert_int_equal(used, 4);
	/* an unknown scheduler is rr, as kube-router falls back: strict rotation */
	apply(f, "lc", "", 4, 0);
	int seq[8];

	memset(spread, 0, sizeof(spread));
	for (int k = 0; k < 8; k++) {
		seq[k] = backend_of(f, 1, (uint16_t)(44000 + k));
		spread[seq[k]]++;
	}
	for (int k = 0; k < 4; k++)
		assert_int_equal(seq[k], seq[k + 4]);
	for (int b = 1; b <= 4; b++)
		assert_int_equal(spread[b], 2);
}

#define AFFINITY ",\"sessionAffinity\":\"ClientIP\"," \
		 "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":1}}"

/*
 * "should have session affinity work" / "... timeout work": with ClientIP
 * affinity every connection of a client goes to one backend (rr would
 * rotate), until the timeout passes with no new connection; a backend that
 * leaves takes its clients' affinity along; switching affinity off rotates
 * again at once.
 */
static void test_client_ip_affinity_and_its_timeout(void **state)
{
	struct fx *f = *state;
	int a, b, again;

	apply_spec(f, "rr", "", 4, 0, AFFINITY);
	a = backend_of(f, 100, 45000);
	for (uint16_t p = 45001; p < 45010; p++)
		assert_int_equal(backend_of(f, 100, p), a);
	b = backend_of(f, 101, 45000); /* another client: the rotation's next */
	assert_int_not_equal(b, a);
	assert_int_equal(backend_of(f, 101, 45001), b);
	usleep(1100 * 1000); /* the timeout passes idle */
	again = backend_of(f, 100, 45020);
	assert_int_not_equal(again, a); /* rr moved on twice since */
	assert_int_equal(backend_of(f, 100, 45021), again); /* and sticks again */
	/* the client's backend leaves the set: it goes elsewhere, and stays there */
	apply_spec(f, "rr", "", 4, again, AFFINITY);
	b = backend_of(f, 100, 45030);
	assert_int_not_equal(b, again);
	assert_int_equal(backend_of(f, 100, 45031), b);
	/* affinity off: strict rotation again for the same client */
	apply(f, "rr", "", 4, 0);
	a = backend_of(f, 100, 45040);
	assert_int_not_equal(backend_of(f, 100, 45041), a);
}

/*
 * Two ClusterIP Services on the same four backends 12.1.0.1..4: S (VIP, with
 * ClientIP affinity) without backend skip (0: none), and T (VIP2) with all.
 */
#define VIP2 "12.0.182.61"

static void apply_s_and_t(struct fx *f, int skip)
{
	struct kx_backend_desc sb[4], tb[4];
	struct kx_svc_desc d[2] = {
		{ .key = { ip4(VIP), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL },
		  .affinity_timeout_s = 100, .backends = sb },
		{ .key = { ip4(VIP2), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL }, .backends = tb },
	};
	struct kx_table t = { .svcs = d, .n_svcs = 2 };
	struct kx_err err = { "" };
	char ip[32];

	for (int i = 1; i <= 4; i++) {
		snprintf(ip, sizeof(ip), "12.1.0.%d", i);
		tb[d[1].n_backends++] = (struct kx_backend_desc){ ip4(ip), 8080, IPPROTO_TCP,
								   KX_BACKEND_ACTIVE };
		if (i != skip)
			sb[d[0].n_backends++] = tb[d[1].n_backends - 1];
	}
	strcpy(d[0].owner, "t/s");
	strcpy(d[1].owner, "t/t");
	if (kx_sync_apply(&f->m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * An affinity pair is honoured only while its backend is in the service
 * entry's set, at the address it had: ids are shared between services and
 * reused, and the agent's purge of pairs runs after its pass (or not at all
 * when it runs out of memory). Here the client's backend leaves S but stays
 * in T, and the pair is put back as a skipped purge would leave it: the
 * client's next connection to S must not go to a backend S no longer has.
 * Before the fix it did.
 */
static void test_affinity_to_a_backend_that_left_the_set_is_not_honoured(void **state)
{
	struct fx *f = *state;
	struct kx_svc_key sk = { ip4(VIP), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
	struct kx_affinity_key ak;
	struct kx_affinity_val av;
	struct kx_svc_val sv;
	char ip[32];
	int a, b;

	apply_s_and_t(f, 0);
	a = backend_of(f, 100, 46000);
	assert_int_equal(backend_of(f, 100, 46001), a);
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &sk, &sv), 0);
	client_ip(100, ip, sizeof(ip));
	ak = (struct kx_affinity_key){ sv.id, ip4(ip) };
	assert_int_equal(bpf_map_lookup_elem(f->m.affinity, &ak, &av), 0);

	apply_s_and_t(f, a); /* a leaves S, stays in T (same backend id) */
	av.last_ns = monotonic_ns();
	assert_int_equal(bpf_map_update_elem(f->m.affinity, &ak, &av, BPF_ANY), 0);
	b = backend_of(f, 100, 46002);
	assert_int_not_equal(b, a);
	assert_int_equal(backend_of(f, 100, 46003), b); /* and the new pair holds */
	assert_int_equal(bpf_map_lookup_elem(f->m.affinity, &ak, &av), 0);
	snprintf(ip, sizeof(ip), "12.1.0.%d", b);
	assert_int_equal(av.backend_addr, ip4(ip)); /* the pair knows its backend's address */
}

/*
 * An agent of before kx_members left the map empty (or a crash left it
 * short): a restart's first sync writes nothing else (nothing differs) but
 * fills kx_members from what the maps hold, so clients keep their backend.
 */
static void test_affinity_survives_an_upgrade_to_kx_members(void **state)
{
	struct fx *f = *state;
	struct kx_member_key k, next;
	int a;

	apply_s_and_t(f, 0);
	a = backend_of(f, 102, 47000);
	while (!bpf_map_get_next_key(f->m.members, NULL, &next)) {
		k = next;
		assert_int_equal(bpf_map_delete_elem(f->m.members, &k), 0);
	}
	apply_s_and_t(f, 0); /* a new syncer over the maps: the restart */
	for (uint16_t p = 47001; p < 47005; p++)
		assert_int_equal(backend_of(f, 102, p), a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_mh_moves_only_the_removed_backends_share, fresh_maps),
		cmocka_unit_test_setup(test_sh_keeps_a_client_on_its_backend, fresh_maps),
		cmocka_unit_test_setup(test_random_and_unknown_schedulers, fresh_maps),
		cmocka_unit_test_setup(test_client_ip_affinity_and_its_timeout, fresh_maps),
		cmocka_unit_test_setup(test_affinity_to_a_backend_that_left_the_set_is_not_honoured, fresh_maps),
		cmocka_unit_test_setup(test_affinity_survives_an_upgrade_to_kx_members, fresh_maps),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("schedulers", tests, setup, kx_fx_teardown);
}
