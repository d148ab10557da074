/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Applying a conntrack entry to a packet, the same at every hook: a forward
 * entry DNATs (and, SNAT, rewrites the source to nat2), a reply entry puts
 * the source back to VIP:port (and, SNAT, the destination back to the client
 * in nat2). New flows go through the same writer with the entry they made.
 */
#ifndef KX_BPF_CT_APPLY_H
#define KX_BPF_CT_APPLY_H

#include "ct.h"
#include "nat.h"
#include "stats.h"

/* Rewrite p's packet as entry ct says. 0, or -1 when a rewrite failed. */
static __always_inline int ct_nat(struct kx_ctx *ctx, struct pkt *p, const struct kx_ct_val *ct)
{
	bool reply = ct->dir == KX_CT_REPLY;
	int mode = ctx_csum_mode(ctx);

	if (nat_write(ctx, p, reply, ct->nat_addr, ct->nat_port, mode))
		return -1;
	if ((ct->flags & KX_CT_F_SNAT) &&
	    nat_write(ctx, p, !reply, ct->nat2_addr, ct->nat2_port, mode))
		return -1;
	return 0;
}

/*
 * A hit: activity noted, the rewrite, the counters (per service and by
 * hook: external_established in XDP, svc_established or revnat in TC).
 * 0, or -1 when a rewrite failed (the caller drops: KX_STAT_DROP_REWRITE).
 */
static __always_inline int ct_apply(struct kx_ctx *ctx, struct pkt *p, struct kx_ct_val *ct)
{
	bool reply = ct->dir == KX_CT_REPLY;

	ct_touch(ct, p);
	if (ct_nat(ctx, p, ct))
		return -1;
	if (CTX_IS_XDP)
		stat_count(ctx, KX_STAT_EXT_ESTABLISHED);
	else
		stat_count(ctx, reply ? KX_STAT_REVNAT : KX_STAT_SVC_ESTABLISHED);
	svc_stat(ct->svc_id, reply, ctx_len(ctx), false);
	return 0;
}

/*
 * The reply entry p's packet hits, if any and still to be applied: the one
 * lookup of the hooks where only replies can arrive (the uplink, a pod's
 * veth egress, the node's own sockets). Flows the stack NATed (a hostPort)
 * keep their addresses: netfilter undoes its own NAT.
 */
static __always_inline struct kx_ct_val *ct_reply_hit(const struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);

	if (!ct || ct->dir != KX_CT_REPLY || (ct->flags & KX_CT_F_STACK) || ct_reply_stale(ct, p))
		return NULL;
	return ct;
}

#endif /* KX_BPF_CT_APPLY_H */
