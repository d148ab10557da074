// SPDX-License-Identifier: GPL-2.0
/*
 * Full tables. The BPF object is loaded with small maps (libbpf's
 * bpf_map__set_max_entries before load): a table that does not fit is
 * reported entry by entry while every other entry is served, and fits once
 * room returns; a full conntrack table evicts its oldest entries and new
 * flows are still served. Needs root.
 */
#include <errno.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpftest.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"

#define SVC_ROOM 6
#define CT_ROOM 64
#define SLOT_ROOM 8

struct fx {
	struct kxdp *skel;
	struct kx_maps m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kx_err err;

	f->skel = kxdp__open();
	if (!f->skel || bpf_map__set_max_entries(f->skel->maps.kx_svc, SVC_ROOM) ||
	    bpf_map__set_max_entries(f->skel->maps.kx_ct, CT_ROOM) ||
	    bpf_map__set_max_entries(f->skel->maps.kx_slots, SLOT_ROOM) || kxdp__load(f->skel) ||
	    kx_maps_from_object(f->skel->obj, &f->m, &err)) {
		fprintf(stderr, "loading the BPF object failed (%s): these tests need root\n",
			strerror(errno));
		return -1;
	}
	*state = f;
	return 0;
}

/* n services 10.96.0.<i>:80, each its own owner, one backend each. */
static void table_of(size_t n, struct kx_table *t, struct kx_svc_desc *d,
		     struct kx_backend_desc *b)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.96.0.%zu", i + 1);
		b[i] = (struct kx_backend_desc){ ip4("10.1.0.1"), (uint16_t)(8000 + i), IPPROTO_TCP,
						 KX_BACKEND_ACTIVE };
		memset(&d[i], 0, sizeof(d[i]));
		d[i].key = (struct kx_svc_key){ ip4(ip), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
		d[i].backends = &b[i];
		d[i].n_backends = 1;
		snprintf(d[i].owner, sizeof(d[i].owner), "ns/s%zu", i);
		snprintf(d[i].name, sizeof(d[i].name), "ns/s%zu:http", i);
	}
	t->svcs = d;
	t->n_svcs = n;
}

static void test_service_map_full_reports_and_recovers(void **state)
{
	struct fx *f = *state;
	struct kx_svc_desc d[10];
	struct kx_backend_desc b[10];
	struct kx_sync_stats st;
	struct kx_snapshot snap;
	struct kx_table t;
	struct kx_err err = { "" };
	struct kx_syncer *s = kx_syncer_new(&f->m, &err);

	assert_non_null(s);
	table_of(10, &t, d, b);
	memset(&st, 0, sizeof(st));
	assert_int_equal(kx_syncer_full(s, &t, &st, &err), -1);
	assert_int_equal(st.failed, 10 - SVC_ROOM);
	assert_non_null(strstr(err.msg, "does not fit in the maps"));
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(kx_snapshot_read(&f->m, &snap, &err), 0);
	assert_int_equal(snap.n_svcs, SVC_ROOM); /* the others are served */
	kx_snapshot_free(&snap);
	/* room returns (fewer services): the next sync fits what is wanted */
	table_of(SVC_ROOM - 1, &t, d, b);
	memset(&st, 0, sizeof(st));
	assert_int_equal(kx_syncer_full(s, &t, &st, &err), 0);
	table_of(SVC_ROOM, &t, d, b);
	t.svcs = &d[0];
	d[SVC_ROOM - 1].key.vip = ip4("10.96.1.1"); /* a service that failed before */
	memset(&st, 0, sizeof(st));
	assert_int_equal(kx_syncer_full(s, &t, &st, &err), 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(kx_snapshot_read(&f->m, &snap, &err), 0);
	assert_int_equal(snap.n_svcs, SVC_ROOM);
	kx_snapshot_free(&snap);
	kx_syncer_free(s);
}

/* One TCP segment from the client pod 12.0.2.10:sport to the Service; DNAT checked. */
static void send_to_svc(struct fx *f, uint16_t sport, uint8_t tcp_flags)
{
	static const uint8_t pod_mac[6] = { 2, 0xc1, 0, 0, 0, 1 };
	static const uint8_t host_mac[6] = { 2, 0xaa, 0, 0, 0, 1 };
	int prog = bpf_program__fd(f->skel->progs.tc_from_pod);
	uint8_t in[128], out[KX_RUN_OUT];
	size_t len = build_l4(in, host_mac, pod_mac, IPPROTO_TCP, "12.0.2.10", sport,
			      "12.0.182.73", 5432, tcp_flags, NULL);
	uint32_t out_len;

	/* TC_ACT_OK: to the (remote) backend */
	assert_int_equal(kx_run_tc(prog, 1, in, len, out, &out_len), TC_ACT_OK);
	assert_int_equal(((uint8_t *)&IPV4(out)->daddr)[3], 5); /* daddr 12.1.0.5 */
	assert_int_equal(ntohs(PORTS(out)->dest), 5001);
}

/* The Service 12.0.182.73:5432 -> 12.1.0.5:5001 and the client pod, conntrack emptied. */
static void ct_fixture(struct fx *f)
{
	static const uint8_t pod_mac[6] = { 2, 0xc1, 0, 0, 0, 1 };
	static const uint8_t host_mac[6] = { 2, 0xaa, 0, 0, 0, 1 };
	static struct kx_backend_desc b = { 0, 5001, IPPROTO_TCP, KX_BACKEND_ACTIVE };
	static struct kx_svc_desc d = { .key = { 0, 0, IPPROTO_TCP, KX_SCOPE_INTERNAL },
					.backends = &b, .n_backends = 1 };
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };
	struct kx_endpoint ep = { .addr = ip4("12.0.2.10"), .ifindex = 1 };
	uint32_t slot = kx_endpoint_slot(ep.addr);
	struct kx_ct_key k, next;
	struct kx_err err;
	uint64_t n = 0;

	b.addr = ip4("12.1.0.5");
	d.key.vip = ip4("12.0.182.73");
	d.key.port = htons(5432);
	memcpy(ep.pod_mac, pod_mac, 6);
	memcpy(ep.host_mac, host_mac, 6);
	assert_int_equal(bpf_map_update_elem(f->m.endpoints, &slot, &ep, BPF_ANY), 0);
	strcpy(d.owner, "t/ct");
	strcpy(d.name, "t/ct");
	/* a new syncer (a restart) over the full service map: the stale entries
	 * make room before this one is written */
	assert_int_equal(kx_sync_apply(&f->m, &t, NULL, &err), 0);
	while (!bpf_map_get_next_key(f->m.ct, NULL, &next)) {
		k = next;
		assert_int_equal(bpf_map_delete_elem(f->m.ct, &k), 0);
		n++;
	}
	assert_int_equal(kx_ct_count_deleted(&f->m, n), 0);
}

/*
 * Conntrack bookkeeping in a table with room: a new flow creates two entries,
 * a SYN reusing a closed flow's tuple rewrites them (no new entry), entries
 * deleted by user space are counted so: no eviction is reported.
 */
static void test_conntrack_counts_without_evictions(void **state)
{
	struct fx *f = *state;
	struct kx_ct_usage u0, u;
	struct kx_ct_key k;

	ct_fixture(f);
	assert_int_equal(kx_ct_usage(&f->m, &u0), 0);
	assert_int_equal(u0.entries, 0);
	assert_int_equal(u0.evicted, 0);
	send_to_svc(f, 40000, 0x02); /* SYN: a new flow */
	send_to_svc(f, 40000, 0x10); /* ACK: established */
	send_to_svc(f, 40000, 0x11); /* FIN: closing */
	send_to_svc(f, 40000, 0x02); /* SYN on the same tuple: a new connection */
	assert_int_equal(kx_ct_usage(&f->m, &u), 0);
	assert_int_equal(u.entries, 2);
	assert_int_equal(u.created - u0.created, 2);
	assert_int_equal(u.evicted, 0);
	/* a user-space flush of one entry, counted: still no eviction */
	assert_int_equal(bpf_map_get_next_key(f->m.ct, NULL, &k), 0);
	assert_int_equal(bpf_map_delete_elem(f->m.ct, &k), 0);
	assert_int_equal(kx_ct_count_deleted(&f->m, 1), 0);
	assert_int_equal(kx_ct_usage(&f->m, &u), 0);
	assert_int_equal(u.entries, 1);
	assert_int_equal(u.evicted, 0);
	/* the same deletion left uncounted reads as one eviction: the count can fail */
	assert_int_equal(bpf_map_get_next_key(f->m.ct, NULL, &k), 0);
	assert_int_equal(bpf_map_delete_elem(f->m.ct, &k), 0);
	assert_int_equal(kx_ct_usage(&f->m, &u), 0);
	assert_int_equal(u.evicted, 1);
	assert_int_equal(kx_ct_count_deleted(&f->m, 1), 0);
}

/*
 * "conntrack full": CT_ROOM entries hold CT_ROOM / 2 flows; three times as
 * many new flows are each still served (DNAT to the backend), the table
 * never grows past its size, and drop_ct_full stays 0: the LRU evicts. Each
 * eviction is counted: every entry written went in under a new key and none
 * was deleted, so evicted = written - entries left, at least the overflow.
 */
static void test_full_conntrack_evicts_counts_and_still_serves(void **state)
{
	struct fx *f = *state;
	uint64_t full0 = stat_packets_fd(f->m.stats, KX_STAT_DROP_CT_FULL);
	struct kx_ct_usage u0, u;
	uint64_t written = 0;

	ct_fixture(f);
	assert_int_equal(kx_ct_usage(&f->m, &u0), 0);
	assert_int_equal(u0.entries, 0);
	for (uint16_t sport = 30000; sport < 30000 + 3 * CT_ROOM / 2; sport++) {
		send_to_svc(f, sport, 0x02);
		written += 2; /* forward and reply entry, new keys each */
	}
	assert_int_equal(kx_ct_usage(&f->m, &u), 0);
	assert_true(u.entries <= CT_ROOM);
	assert_int_equal(stat_packets_fd(f->m.stats, KX_STAT_DROP_CT_FULL), full0);
	assert_int_equal(u.created - u0.created, written);
	assert_int_equal(u.evicted - u0.evicted, written - u.entries);
	assert_true(u.evicted - u0.evicted >= written - CT_ROOM);
}

/* Entries in a hash map. */
static size_t map_entries(int fd, size_t key_size)
{
	uint8_t k[64], next[64];
	size_t n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

/* The service 10.96.9.1:80 with n backends 10.1.9.1..n. */
static int apply_n_backends(struct kx_syncer *s, size_t n, struct kx_err *err)
{
	struct kx_backend_desc b[SLOT_ROOM];
	struct kx_svc_desc d = { .key = { ip4("10.96.9.1"), htons(80), IPPROTO_TCP,
					  KX_SCOPE_INTERNAL },
				 .backends = b, .n_backends = n };
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };
	struct kx_sync_stats st = { 0 };
	char ip[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.1.9.%zu", i + 1);
		b[i] = (struct kx_backend_desc){ ip4(ip), 8080, IPPROTO_TCP, KX_BACKEND_ACTIVE };
	}
	strcpy(d.owner, "t/grow");
	strcpy(d.name, "t/grow:http");
	return kx_syncer_full(s, &t, &st, err);
}

/*
 * An update of an existing service that does not fit (its new set goes into
 * the other slot range, and the slot map fills up half-way) keeps the old
 * set served and leaves none of the slots it wrote behind, so a smaller
 * update that fits still goes in. Before the fix the half-written range
 * stayed (the slot map stayed full, so later updates failed too) and the
 * service itself was removed.
 */
static void test_failed_update_leaves_no_slots_behind(void **state)
{
	struct fx *f = *state;
	struct kx_svc_key key = { ip4("10.96.9.1"), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
	struct kx_err err = { "" };
	struct kx_svc_val v;
	struct kx_syncer *s;

	kx_fx_reset(f->skel);
	s = kx_syncer_new(&f->m, &err);
	assert_non_null(s);
	assert_int_equal(apply_n_backends(s, 3, &err), 0);
	assert_int_equal(map_entries(f->m.slots, sizeof(struct kx_slot_key)), 3);
	/* 3 + 6 slots do not fit in SLOT_ROOM: the update fails, the 3 stay */
	assert_int_equal(apply_n_backends(s, 6, &err), -1);
	assert_non_null(strstr(err.msg, "t/grow:http: does not fit in the maps"));
	assert_int_equal(map_entries(f->m.slots, sizeof(struct kx_slot_key)), 3);
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &key, &v), 0); /* still served */
	assert_int_equal(v.count, 3);
	/* 3 + 4 fit */
	assert_int_equal(apply_n_backends(s, 4, &err), 0);
	assert_int_equal(map_entries(f->m.slots, sizeof(struct kx_slot_key)), 4);
	kx_syncer_free(s);
	/* a restart (every entry found unclaimed): a failed first update keeps it too */
	s = kx_syncer_new(&f->m, &err);
	assert_non_null(s);
	assert_int_equal(apply_n_backends(s, 6, &err), -1);
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &key, &v), 0);
	assert_int_equal(v.count, 4);
	assert_int_equal(map_entries(f->m.slots, sizeof(struct kx_slot_key)), 4);
	kx_syncer_free(s);
	kx_fx_reset(f->skel);
}

/* n services 10.96.8.<i>:80 with ClientIP affinity, backend 10.1.8.<i> each. */
static int apply_affinity_services(struct kx_syncer *s, size_t n, size_t first,
				   struct kx_err *err)
{
	struct kx_backend_desc b[10];
	struct kx_svc_desc d[10];
	struct kx_table t = { .svcs = d, .n_svcs = n };
	struct kx_sync_stats st = { 0 };
	char ip[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.1.8.%zu", first + i);
		b[i] = (struct kx_backend_desc){ ip4(ip), 8080, IPPROTO_TCP, KX_BACKEND_ACTIVE };
		snprintf(ip, sizeof(ip), "10.96.8.%zu", first + i);
		memset(&d[i], 0, sizeof(d[i]));
		d[i].key = (struct kx_svc_key){ ip4(ip), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
		d[i].affinity_timeout_s = 100;
		d[i].backends = &b[i];
		d[i].n_backends = 1;
		snprintf(d[i].owner, sizeof(d[i].owner), "t/aff%zu", first + i);
		snprintf(d[i].name, sizeof(d[i].name), "t/aff%zu:http", first + i);
	}
	return kx_syncer_full(s, &t, &st, err);
}

/*
 * kx_members holds exactly the sets of the entries that are served: an
 * affinity entry that does not fit (the service map full) leaves none of
 * its members behind. Before (review finding), the members written for it
 * stayed under the id it gave back, for the next entry given that id.
 */
static void test_members_of_an_entry_that_did_not_fit_go(void **state)
{
	struct fx *f = *state;
	struct kx_err err = { "" };
	struct kx_syncer *s;

	kx_fx_reset(f->skel);
	s = kx_syncer_new(&f->m, &err);
	assert_non_null(s);
	assert_int_equal(apply_affinity_services(s, SVC_ROOM + 1, 1, &err), -1);
	assert_int_equal(map_entries(f->m.svc, sizeof(struct kx_svc_key)), SVC_ROOM);
	assert_int_equal(map_entries(f->m.members, sizeof(struct kx_member_key)), SVC_ROOM);
	kx_syncer_free(s);
	kx_fx_reset(f->skel);
}

/*
 * An entry removed in a pass gives its id back only after the pass's purge
 * of its clients' affinity pairs: an entry added in the same pass gets
 * another id, never inheriting pairs keyed by the old one. Before (review
 * finding), the lowest free id went at once to the new entry.
 */
static void test_removed_entry_id_not_given_again_in_the_same_pass(void **state)
{
	struct fx *f = *state;
	struct kx_svc_key k1 = { ip4("10.96.8.1"), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
	struct kx_svc_key k2 = { ip4("10.96.8.2"), htons(80), IPPROTO_TCP, KX_SCOPE_INTERNAL };
	struct kx_svc_val v1, v2;
	struct kx_err err = { "" };
	struct kx_syncer *s;

	kx_fx_reset(f->skel);
	s = kx_syncer_new(&f->m, &err);
	assert_non_null(s);
	assert_int_equal(apply_affinity_services(s, 1, 1, &err), 0);
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &k1, &v1), 0);
	assert_int_equal(apply_affinity_services(s, 1, 2, &err), 0); /* 1 goes, 2 comes */
	assert_int_equal(bpf_map_lookup_elem(f->m.svc, &k2, &v2), 0);
	assert_int_not_equal(v2.id, v1.id);
	kx_syncer_free(s);
	kx_fx_reset(f->skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_map_full_reports_and_recovers),
		cmocka_unit_test(test_conntrack_counts_without_evictions),
		cmocka_unit_test(test_full_conntrack_evicts_counts_and_still_serves),
		cmocka_unit_test(test_failed_update_leaves_no_slots_behind),
		cmocka_unit_test(test_members_of_an_entry_that_did_not_fit_go),
		cmocka_unit_test(test_removed_entry_id_not_given_again_in_the_same_pass),
	};

	kx_log_verbosity = -1;
	libbpf_set_print(kx_libbpf_print);
	return cmocka_run_group_tests_name("full tables", tests, setup, kx_fx_teardown);
}
