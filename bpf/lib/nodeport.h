/* SPDX-License-Identifier: GPL-2.0 */
/*
 * External traffic in XDP: node ports, ExternalIPs and LoadBalancer IPs.
 * The rewrite assumes what a wire delivers: full checksums (XDP cannot see an
 * skb's ip_summed), updated incrementally (RFC 1624).
 */
#ifndef KX_BPF_NODEPORT_H
#define KX_BPF_NODEPORT_H

#include "lb.h"
#include "maps.h"
#include "nat.h"
#include "parse.h"

#define AF_INET 2
#define BPF_FIB_LKUP_RET_SUCCESS 0


/*
 * One end of a packet (address field *a, port field *pt, their copies in
 * struct pkt *pa, *pp) becomes addr:port; IPv4 check *ipc and the L4 sum *c
 * follow as full checksums.
 */
static __always_inline void xdp_nat_end(__sum16 *ipc, __u16 *c, __be32 *a, __be16 *pt,
					__be32 *pa, __be16 *pp, __be32 addr, __be16 port)
{
	*ipc = csum16_replace4(*ipc, *pa, addr);
	*c = csum16_replace4(*c, *pa, addr);
	*c = csum16_replace2(*c, *pp, port);
	*a = addr;
	*pt = port;
	*pa = addr;
	*pp = port;
}

/*
 * Rewrite the destination (and, with snat, the source) of p's frame in
 * [data, data_end) to daddr:dport (saddr:sport), checksums updated as full
 * ones. Returns 0 or -1 (truncated).
 */
static __always_inline int xdp_nat(void *data, void *data_end, struct pkt *p, __be32 daddr,
				   __be16 dport, bool snat, __be32 saddr, __be16 sport)
{
	struct iphdr *ip = data + ETH_HLEN;
	bool udp = p->proto == IPPROTO_UDP;
	__u32 l4off = p->l4off;
	__be16 *l4, *check;
	__u16 c;

	if ((void *)(ip + 1) > data_end || l4off > ETH_HLEN + 60)
		return -1;
	l4 = data + l4off; /* ports, then the UDP check at [3], TCP's at [8] */
	check = udp ? &l4[3] : &l4[8];
	if ((void *)(check + 1) > data_end)
		return -1;
	c = *check;
	xdp_nat_end(&ip->check, &c, &ip->daddr, &l4[1], &p->daddr, &p->dport, daddr, dport);
	if (snat)
		xdp_nat_end(&ip->check, &c, &ip->saddr, &l4[0], &p->saddr, &p->sport, saddr,
			    sport);
	if (udp && *check == 0)
		return 0; /* UDP without a checksum keeps none (the field was never written) */
	if (udp && c == 0)
		c = KX_CSUM_MANGLED_0;
	*check = c;
	return 0;
}

/*
 * Send p's (already rewritten) frame on towards its destination: the FIB
 * gives the egress interface and both MACs; the same interface is XDP_TX,
 * another a redirect. No route or no neighbour yet: dropped and counted (the
 * agent keeps other nodes' neighbours resolved: managed entries).
 */
static __always_inline int xdp_forward(struct xdp_md *ctx, const struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup f = {};
	struct ethhdr *eth = data;
	long rc;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	f.family = AF_INET;
	f.l4_protocol = p->proto;
	f.ipv4_src = p->saddr;
	f.ipv4_dst = p->daddr;
	f.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		stat_add(KX_STAT_DROP_NO_ROUTE, data_end - data);
		return XDP_DROP;
	}
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	stat_add(KX_STAT_EXT_TX, data_end - data);
	if (f.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(f.ifindex, 0);
}

#endif /* KX_BPF_NODEPORT_H */
