/* SPDX-License-Identifier: GPL-2.0 */
/* What the BPF_PROG_RUN tests share: reading kx_stats. */
#ifndef KX_BPFTEST_H
#define KX_BPFTEST_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "testlib.h"
#include "kxdp_abi.h"

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

#endif /* KX_BPFTEST_H */
