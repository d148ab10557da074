/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the BPF_PROG_RUN tests share: one run helper per program type, the
 * maps emptied between tests, reading kx_stats, the fixture teardown.
 */
#ifndef KX_BPFTEST_H
#define KX_BPFTEST_H

#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "testlib.h"
#include "kxdp_abi.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "datapath/sync.h"
#include "model/model.h"

/* Packets counted under what, summed over CPUs. */
static inline uint64_t stat_packets_fd(int stats_fd, uint32_t what)
{
	int n = libbpf_num_possible_cpus();
	struct kx_counter per[n];
	uint64_t sum = 0;

	assert_int_equal(bpf_map_lookup_elem(stats_fd, &what, per), 0);
	for (int i = 0; i < n; i++)
		sum += per[i].packets;
	return sum;
}

/*
 * Load the BPF object and take its maps: 0, or -1 with a line on stderr
 * (these tests need root).
 */
static inline int kx_fx_load(struct kxdp **skel, struct kx_maps *m)
{
	struct kx_err err = { "" };

	*skel = kxdp__open_and_load();
	if (!*skel || kx_maps_from_object((*skel)->obj, m, &err)) {
		fprintf(stderr, "loading the BPF object failed (%s%s): these tests need root\n",
			*skel ? "" : strerror(errno), err.msg);
		return -1;
	}
	return 0;
}

/*
 * Every BPF_PROG_RUN test's fixture begins with its skeleton: one teardown
 * serves them all (cmocka group teardown; state may be NULL after a failed
 * setup).
 */
struct kx_fx_head {
	struct kxdp *skel;
};

static inline int kx_fx_teardown(void **state)
{
	struct kx_fx_head *f = *state;

	if (f)
		kxdp__destroy(f->skel);
	free(f);
	return 0;
}

/* TC verdicts, as uapi pkt_cls.h numbers them (XDP's are enum xdp_action). */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

/* The largest frame a run hands back. */
#define KX_RUN_OUT 256

/*
 * Run a TC program once (repeat 1: a DNAT must not run twice) on frame in,
 * as if it arrived on ifindex; out (KX_RUN_OUT bytes) gets the frame the
 * program left, *out_len its length. Returns the verdict.
 */
static inline int kx_run_tc(int prog, uint32_t ifindex, const uint8_t *in, size_t len,
			    uint8_t *out, uint32_t *out_len)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len,
			    .data_out = out, .data_size_out = KX_RUN_OUT, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
	*out_len = o.data_size_out;
	return (int)o.retval;
}

/* The same for an XDP program; ingress_ifindex 0 runs it without a context. */
static inline int kx_run_xdp(int prog, uint32_t ingress_ifindex, const uint8_t *in, size_t len,
			     uint8_t *out, uint32_t *out_len)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = ingress_ifindex };
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len,
			    .data_out = out, .data_size_out = KX_RUN_OUT, .repeat = 1);

	if (ingress_ifindex) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
	*out_len = o.data_size_out;
	return (int)o.retval;
}

/* Every entry of an array map back to zeros, in one batch. */
static inline void kx_reset_array(const struct bpf_map *map)
{
	int fd = bpf_map__fd(map), ncpu = libbpf_num_possible_cpus();
	__u32 n = bpf_map__max_entries(map), count = n;
	size_t vsize = bpf_map__value_size(map);
	uint32_t *keys = calloc(n, sizeof(*keys));
	void *zeros;

	if (bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY)
		vsize = ((vsize + 7) & ~(size_t)7) * (size_t)ncpu;
	zeros = calloc(n, vsize);
	assert_non_null(keys);
	assert_non_null(zeros);
	for (uint32_t i = 0; i < n; i++)
		keys[i] = i;
	assert_int_equal(bpf_map_update_batch(fd, keys, zeros, &count, NULL), 0);
	free(keys);
	free(zeros);
}

/* Every key of a hash, LRU or LPM map deleted. */
static inline void kx_reset_keyed(const struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	uint8_t key[64];

	assert_true(bpf_map__key_size(map) <= sizeof(key));
	while (!bpf_map_get_next_key(fd, NULL, key))
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

/* Empty every map of the loaded object: each test starts from nothing. */
static inline void kx_fx_reset(struct kxdp *skel)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_ARRAY:
		case BPF_MAP_TYPE_PERCPU_ARRAY:
			kx_reset_array(map);
			break;
		default:
			kx_reset_keyed(map);
		}
	}
}

/* Wire pod ip behind veth ifindex in kx_endpoints, as kxdp-cni does. */
static inline void kx_put_endpoint(const struct kx_maps *m, const char *ip, const uint8_t *pod_mac,
				   const uint8_t *host_mac, uint32_t ifindex)
{
	struct kx_endpoint ep = { .addr = ip4(ip), .ifindex = ifindex };
	uint32_t slot = kx_endpoint_slot(ep.addr);

	memcpy(ep.pod_mac, pod_mac, 6);
	memcpy(ep.host_mac, host_mac, 6);
	assert_int_equal(bpf_map_update_elem(m->endpoints, &slot, &ep, BPF_ANY), 0);
}

/* A one-service table written by the real sync code: vip:port/proto -> n (<= 4) backends at bport. */
static inline void kx_put_service(const struct kx_maps *m, const char *vip, uint16_t port,
				  uint8_t proto, const char **ips, uint16_t bport, size_t n)
{
	struct kx_backend_desc b[4];
	struct kx_svc_desc d = { .key = { ip4(vip), htons(port), proto, KX_SCOPE_INTERNAL } };
	struct kx_table t = { .svcs = &d, .n_svcs = 1 };
	struct kx_err err;

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++)
		b[i] = (struct kx_backend_desc){ ip4(ips[i]), bport, proto, KX_BACKEND_ACTIVE };
	d.backends = b;
	d.n_backends = n;
	strcpy(d.name, "t/svc");
	if (kx_sync_apply(m, &t, NULL, &err))
		fail_msg("sync: %s", err.msg);
}

#endif /* KX_BPFTEST_H */
