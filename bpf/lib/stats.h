/* SPDX-License-Identifier: GPL-2.0 */
/* Counting what the datapath does, by enum kx_stat. */
#ifndef KX_BPF_STATS_H
#define KX_BPF_STATS_H

#include "ctx.h"
#include "maps.h"

static __always_inline void stat_add(__u32 what, __u64 bytes)
{
	struct kx_counter *c = bpf_map_lookup_elem(&kx_stats, &what);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void stat_count(const struct kx_ctx *ctx, __u32 what)
{
	stat_add(what, ctx_len(ctx));
}

/* Count a packet of service entry svc_id: a new connection, and one way or the other. */
static __always_inline void svc_stat(__u32 svc_id, bool reply, __u64 bytes, bool new_conn)
{
	struct kx_svc_counter *c = bpf_map_lookup_elem(&kx_svc_stats, &svc_id);

	if (!c)
		return;
	if (new_conn)
		__sync_fetch_and_add(&c->conns, 1);
	if (reply) {
		__sync_fetch_and_add(&c->out_pkts, 1);
		__sync_fetch_and_add(&c->out_bytes, bytes);
	} else {
		__sync_fetch_and_add(&c->in_pkts, 1);
		__sync_fetch_and_add(&c->in_bytes, bytes);
	}
}

/* Count a drop by reason and return the hook's verdict for it (TC or XDP). */
static __always_inline int drop(const struct kx_ctx *ctx, __u32 reason)
{
	stat_count(ctx, reason);
	return CTX_DROP;
}

#endif /* KX_BPF_STATS_H */
