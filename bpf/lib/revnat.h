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

#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

/*
 * An ICMP error (destination unreachable, fragmentation needed, time
 * exceeded, parameter problem) about a packet a backend sent back, or one the
 * client sent to it, quotes the packet as it was after DNAT: client ->
 * backend:port. The client's socket knows VIP:port, so the quote is
 * translated back like a reply: its destination becomes VIP:port, and the
 * error's own source too when the backend sent it (port unreachable), as
 * conntrack's RELATED handling does. PMTU discovery through a Service keeps
 * working. Returns 0 (translated or not ours), -1 when a rewrite failed.
 */
static __always_inline int revnat_icmp_error(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 icmp_off = p->l4off; /* the ICMP checksum is at +2 */
	struct iphdr *inner;
	struct kx_ct_key k = {};
	struct kx_ct_val *ct;
	__be16 *ports, old_port;
	__be32 old_addr, vip;
	__u16 old_check, new_check;
	__u8 *type;

	if (p->proto != IPPROTO_ICMP || p->frag || p->l4off > ETH_HLEN + 60)
		return 0;
	type = data + icmp_off;
	inner = (void *)(type + 8); /* one pointer, so one bounds check covers both */
	if ((void *)(inner + 1) > data_end)
		return 0;
	if (*type != ICMP_DEST_UNREACH && *type != ICMP_TIME_EXCEEDED &&
	    *type != ICMP_PARAMETERPROB)
		return 0;
	if (inner->ihl != 5 || (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP))
		return 0;
	ports = (void *)(inner + 1);
	if ((void *)(ports + 2) > data_end)
		return 0;
	/* the quoted packet went client -> backend: its reply tuple finds the flow */
	k.saddr = inner->daddr;
	k.daddr = inner->saddr;
	k.sport = ports[1];
	k.dport = ports[0];
	k.proto = inner->protocol;
	ct = bpf_map_lookup_elem(&kx_ct, &k);
	if (!ct || ct->dir != KX_CT_REPLY || (ct->flags & KX_CT_F_SNAT))
		return 0;
	vip = ct->nat_addr;
	old_addr = inner->daddr;
	old_port = ports[1];
	old_check = inner->check;
	new_check = csum16_replace4(old_check, old_addr, vip);
	inner->daddr = vip;
	inner->check = new_check;
	ports[1] = ct->nat_port;
	/* The ICMP checksum covers the quote: three fields changed in it. */
	if (bpf_l4_csum_replace(skb, icmp_off + 2, old_addr, vip, sizeof(vip)) ||
	    bpf_l4_csum_replace(skb, icmp_off + 2, old_check, new_check, 2) ||
	    bpf_l4_csum_replace(skb, icmp_off + 2, old_port, ct->nat_port, 2))
		return -1;
	if (p->saddr == k.saddr) { /* sent by the backend itself: from the VIP */
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct iphdr *outer = data + ETH_HLEN;

		if ((void *)(outer + 1) > data_end)
			return -1;
		outer->check = csum16_replace4(outer->check, outer->saddr, vip);
		outer->saddr = vip;
		p->saddr = vip;
	}
	stat_count(skb, KX_STAT_ICMP_ERROR_REVNAT);
	return 0;
}

#endif /* KX_BPF_REVNAT_H */
