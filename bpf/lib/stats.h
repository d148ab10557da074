/* SPDX-License-Identifier: GPL-2.0 */
/* Counting what the datapath does, by enum kx_stat. */
#ifndef KX_BPF_STATS_H
#define KX_BPF_STATS_H

#include "maps.h"

static __always_inline void stat_add(__u32 what, __u64 bytes)
{
	struct kx_counter *c = bpf_map_lookup_elem(&kx_stats, &what);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void stat_count(struct __sk_buff *skb, __u32 what)
{
	stat_add(what, skb->len);
}

/* Count a drop by reason and return the TC verdict for it. */
static __always_inline int drop(struct __sk_buff *skb, __u32 reason)
{
	stat_count(skb, reason);
	return TC_ACT_SHOT;
}

#endif /* KX_BPF_STATS_H */
