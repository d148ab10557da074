/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reverse NAT where only replies can arrive (a pod's veth egress, the
 * uplink): a conntrack reply hit gets its source back to VIP:port.
 */
#ifndef KX_BPF_REVNAT_H
#define KX_BPF_REVNAT_H

#include "ct.h"
#include "nat.h"
#include "stats.h"

/* 0 when done or nothing to do; -1 when the rewrite failed (drop it). */
static __always_inline int revnat_reply(struct __sk_buff *skb, struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);

	if (!ct || ct->dir != KX_CT_REPLY || ct_reply_stale(ct, p))
		return 0;
	ct_touch(ct, p);
	if (nat_rewrite(skb, p, true, ct->nat_addr, ct->nat_port))
		return -1;
	stat_count(skb, KX_STAT_REVNAT);
	svc_stat(ct->svc_id, true, skb->len, false);
	return 0;
}

#endif /* KX_BPF_REVNAT_H */
