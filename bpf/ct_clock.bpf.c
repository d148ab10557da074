// SPDX-License-Identifier: GPL-2.0
/*
 * ct_clock: the kernel's clocks for the agent's conntrack GC, which runs it
 * with BPF_PROG_RUN (never attached). kx_ct_val.last_seen is in jiffies
 * (bpf_jiffies64(), the cheapest clock a program can read) and user space
 * has no jiffies of its own: the frame comes back holding jiffies and
 * CLOCK_MONOTONIC nanoseconds read together (struct kx_clock), from which
 * the agent also learns HZ.
 */
#include "lib/common.h"

/* Write struct kx_clock at the start of the frame; XDP_ABORTED if it is too short. */
SEC("xdp")
int ct_clock(struct xdp_md *ctx)
{
	struct kx_clock *out = (void *)(long)ctx->data;

	if ((void *)(out + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	out->jiffies = bpf_jiffies64();
	out->mono_ns = bpf_ktime_get_ns();
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
