/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ICMP errors about NATed flows, translated for their client as
 * conntrack's RELATED handling does, so PMTU discovery and "port
 * unreachable" work through a Service.
 */
#ifndef KX_BPF_ICMP_ERROR_H
#define KX_BPF_ICMP_ERROR_H

#include "csum.h"
#include "ct.h"
#include "stats.h"

/* The quoted packet of an ICMP error, with the checksums its rewrite keeps right. */
struct icmp_quote {
	__sum16 *icmp_check; /* covers the quote */
	struct iphdr *ip;
	__be16 *ports; /* [0] source, [1] destination */
};

/* One end of the quote becomes addr:port: three fields it covers change. */
static __always_inline void quote_rewrite(struct icmp_quote *q, bool is_src, __be32 addr,
					  __be16 port)
{
	__be32 *a = is_src ? &q->ip->saddr : &q->ip->daddr;
	__be16 *pt = is_src ? &q->ports[0] : &q->ports[1];
	__u16 old_check = q->ip->check;

	q->ip->check = csum16_replace4(old_check, *a, addr);
	*q->icmp_check = csum16_replace4(*q->icmp_check, *a, addr);
	*q->icmp_check = csum16_replace2(*q->icmp_check, old_check, q->ip->check);
	*q->icmp_check = csum16_replace2(*q->icmp_check, *pt, port);
	*a = addr;
	*pt = port;
}

/* The outer header's source (is_src) or destination becomes addr; p follows. */
static __always_inline int outer_rewrite(struct kx_ctx *ctx, struct pkt *p, bool is_src,
					 __be32 addr)
{
	struct iphdr *outer = ctx_data(ctx) + ETH_HLEN;

	if ((void *)(outer + 1) > ctx_data_end(ctx))
		return -1;
	if (is_src) {
		outer->check = csum16_replace4(outer->check, outer->saddr, addr);
		outer->saddr = addr;
		p->saddr.v4 = addr;
	} else {
		outer->check = csum16_replace4(outer->check, outer->daddr, addr);
		outer->daddr = addr;
		p->daddr.v4 = addr;
	}
	return 0;
}

/*
 * An ICMP error (destination unreachable, fragmentation needed, time
 * exceeded, parameter problem) about a packet a backend sent back, or one
 * the client sent to it, quotes the packet as it was after the NAT: client
 * (or, SNAT, the address and port it was given) -> backend:port. The
 * client's socket knows VIP:port, so the quote is translated back like a
 * reply: its destination becomes VIP:port; with SNAT (a hairpin, a source
 * port changed by a clash, a node port's remote backend) its source and the
 * error's own destination become the client again; and the error's source
 * becomes the VIP when the backend itself sent it (port unreachable).
 * The ICMP checksum does not cover a pseudo-header, so it is updated in
 * place in TC and XDP alike. Returns ICMP_ERR_EXTERNAL when the flow's
 * client is outside the cluster (a node port, ExternalIP, LB IP: the error
 * leaves by the uplink, as the flow's replies do), 0 (translated, or not
 * ours), or -1 when the packet could not be rewritten.
 */
#define ICMP_ERR_EXTERNAL 1

static __always_inline int icmp_error_revnat(struct kx_ctx *ctx, struct pkt *p)
{
	void *data = ctx_data(ctx);
	void *data_end = ctx_data_end(ctx);
	struct kx_ct_key k = {};
	struct icmp_quote q;
	struct kx_ct_val *ct;
	__u8 *type;

	if (p->l4_proto != IPPROTO_ICMP || p->frag || p->l4off > ETH_HLEN + 60)
		return 0;
	type = data + p->l4off;
	q.ip = (void *)(type + 8); /* one pointer, so one bounds check covers both */
	if ((void *)(q.ip + 1) > data_end)
		return 0;
	if (*type != ICMP_DEST_UNREACH && *type != ICMP_TIME_EXCEEDED &&
	    *type != ICMP_PARAMETERPROB)
		return 0;
	if (q.ip->ihl != 5 || (q.ip->protocol != IPPROTO_TCP && q.ip->protocol != IPPROTO_UDP))
		return 0;
	q.ports = (void *)(q.ip + 1);
	if ((void *)(q.ports + 2) > data_end)
		return 0;
	q.icmp_check = (void *)(type + 2);
	/* the quoted packet went client -> backend: its reply tuple finds the flow */
	k.saddr = q.ip->daddr;
	k.daddr = q.ip->saddr;
	k.sport = q.ports[1];
	k.dport = q.ports[0];
	k.proto = q.ip->protocol;
	ct = bpf_map_lookup_elem(&kx_ct, &k);
	if (!ct || ct->dir != KX_CT_REPLY || (ct->flags & KX_CT_F_STACK))
		return 0;
	quote_rewrite(&q, false, ct->nat_addr, ct->nat_port);
	if (ct->flags & KX_CT_F_SNAT) {
		quote_rewrite(&q, true, ct->nat2_addr, ct->nat2_port);
		if (p->daddr.v4 == k.daddr && outer_rewrite(ctx, p, false, ct->nat2_addr))
			return -1;
	}
	if (p->saddr.v4 == k.saddr && outer_rewrite(ctx, p, true, ct->nat_addr))
		return -1;
	stat_count(ctx, KX_STAT_ICMP_ERROR_REVNAT);
	return (ct->flags & KX_CT_F_EXTERNAL) ? ICMP_ERR_EXTERNAL : 0;
}

#endif /* KX_BPF_ICMP_ERROR_H */
