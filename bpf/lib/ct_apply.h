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
	if (ct->flags & KX_CT_F_POLICY) /* a policy verdict: nothing to rewrite */
		return 0;
	if (ct_nat(ctx, p, ct))
		return -1;
	if (CTX_IS_XDP)
		stat_count(ctx, KX_STAT_EXT_ESTABLISHED);
	else
		stat_count(ctx, reply ? KX_STAT_REVNAT : KX_STAT_SVC_ESTABLISHED);
	svc_stat(ct->svc_id, reply, ctx_len(ctx), false);
	return 0;
}

/* Is ct, p's hit, a reply entry still to be applied (flows the stack NATed excepted)? */
static __always_inline bool ct_reply_applies(const struct kx_ct_val *ct, const struct pkt *p)
{
	return ct && ct->dir == KX_CT_REPLY && !(ct->flags & KX_CT_F_STACK) && !ct_reply_stale(ct, p);
}

/*
 * The reply entry p's packet hits, if any and still to be applied: the one
 * lookup of the hooks where only replies can arrive (a pod's veth egress
 * from a pod, the node's own sockets). Flows the stack NATed (a hostPort)
 * keep their addresses: netfilter undoes its own NAT.
 */
static __always_inline struct kx_ct_val *ct_reply_hit(const struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);

	return ct_reply_applies(ct, p) ? ct : NULL;
}

/*
 * What a packet arriving from elsewhere (the uplink, the node's stack)
 * hits: a reply entry as ct_reply_hit() finds it, or the forward entry of
 * a flow policy allowed on its first packet here. Either lets it in
 * unjudged.
 */
static __always_inline struct kx_ct_val *ct_arrival_hit(const struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);

	if (ct && ct->dir == KX_CT_FORWARD && (ct->flags & KX_CT_F_POLICY))
		return ct_stale(ct, p, KX_SCOPE_EXTERNAL) ? NULL : ct;
	return ct_reply_applies(ct, p) ? ct : NULL;
}

#endif /* KX_BPF_CT_APPLY_H */
