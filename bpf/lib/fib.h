/* SPDX-License-Identifier: GPL-2.0 */
/* Sending a rewritten packet on by the kernel's FIB, from XDP or TC. */
#ifndef KX_BPF_FIB_H
#define KX_BPF_FIB_H

#include "config.h"
#include "parse.h"
#include "stats.h"

#ifdef KX_CTX_XDP
/*
 * Send p's (already rewritten) frame on towards its destination: the FIB
 * gives the egress interface and both MACs; the same interface is XDP_TX,
 * another a redirect. No route or no neighbour yet: dropped and counted (the
 * agent keeps other nodes' neighbours resolved: managed entries).
 */
static __always_inline int fib_forward(struct kx_ctx *ctx, const struct pkt *p)
{
	struct ethhdr *eth = ctx_data(ctx);
	struct bpf_fib_lookup f = {};
	long rc;

	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return XDP_DROP;
	f.family = AF_INET;
	f.l4_protocol = p->l4_proto;
	f.ipv4_src = p->saddr.v4;
	f.ipv4_dst = p->daddr.v4;
	f.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return drop(ctx, KX_STAT_DROP_NO_ROUTE);
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	stat_count(ctx, KX_STAT_EXT_TX);
	if (f.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(f.ifindex, 0);
}
#else
/*
 * A reply to an external client (node port, ExternalIP, LB IP) leaves by the
 * uplink directly: its source is now the node's own address, which the
 * stack would take for a martian if the packet went through it.
 */
static __always_inline int out_of_uplink(struct kx_ctx *ctx)
{
	struct kx_config *c = config_get();

	if (!c || !c->uplink_ifindex)
		return drop(ctx, KX_STAT_DROP_NO_ROUTE);
	return bpf_redirect_neigh(c->uplink_ifindex, NULL, 0, 0);
}
#endif

#endif /* KX_BPF_FIB_H */
