/* SPDX-License-Identifier: GPL-2.0 */
/* What the BPF_PROG_RUN tests share: reading kx_stats, the fixture teardown. */
#ifndef KX_BPFTEST_H
#define KX_BPFTEST_H

#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "testlib.h"
#include "kxdp_abi.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"

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

#endif /* KX_BPFTEST_H */
