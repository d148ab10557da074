/* SPDX-License-Identifier: GPL-2.0 */
/* Parsing a frame into a flat, family-neutral struct pkt, bounds-checked. */
#ifndef KX_BPF_PARSE_H
#define KX_BPF_PARSE_H

#include "ctx.h"

/*
 * An address of either family: IPv4 in v4, IPv6 in v6 (IPv6 adds parsing
 * and checksums here, never a second copy of the paths that use a pkt).
 */
union kx_addr {
	__be32 v4;
	__be32 v6[4];
};

/* What the programs need to know about one packet. */
struct pkt {
	union kx_addr saddr;
	union kx_addr daddr;
	__u32 l3off; /* offset of the IP header */
	__u32 l4off; /* offset of the TCP/UDP/ICMP header */
	__be16 l3_proto; /* ETH_P_IP (network order) */
	__be16 sport;
	__be16 dport;
	__u8 l4_proto; /* IPPROTO_* */
	__u8 has_ports; /* TCP or UDP, not a fragment, header present */
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__u8 ttl;
	__u8 frag; /* a fragment (MF set or an offset): PKT_FRAG_*, never load-balanced */
};

/*
 * pkt.frag. A first fragment's ports are read (sport, dport: policy judges
 * it), but has_ports stays 0: the later ones carry none, so no fragment is
 * matched to a backend.
 */
#define PKT_FRAG_FIRST 1
#define PKT_FRAG_LATER 2

/* EtherType of the frame, or 0 when it is shorter than an Ethernet header. */
static __always_inline __be16 parse_eth_proto(const struct kx_ctx *ctx)
{
	struct ethhdr *eth = ctx_data(ctx);

	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return 0;
	return eth->h_proto;
}

/* Ports and flags of the TCP or UDP header at l4 (left 0 when truncated). */
static __always_inline void parse_l4(void *l4, void *data_end, struct pkt *p)
{
	if (p->l4_proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		p->has_ports = 1;
	} else if (p->l4_proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return;
		p->sport = udp->source;
		p->dport = udp->dest;
		p->has_ports = 1;
	}
}

/*
 * Fill p from an IPv4 frame. Returns 0, or -1 when the IPv4 header is
 * truncated or invalid. A fragment, an unknown protocol or a truncated L4
 * header leaves has_ports at 0: such packets are never load-balanced.
 */
static __always_inline int parse_ipv4(const struct kx_ctx *ctx, struct pkt *p)
{
	void *data_end = ctx_data_end(ctx);
	struct iphdr *ip = ctx_data(ctx) + ETH_HLEN;
	__u32 ihl_len;

	if ((void *)(ip + 1) > data_end)
		return -1;
	ihl_len = ip->ihl * 4;
	if (ip->version != 4 || ihl_len < sizeof(*ip))
		return -1;

	p->l3_proto = bpf_htons(ETH_P_IP);
	p->l3off = ETH_HLEN;
	p->l4off = ETH_HLEN + ihl_len;
	p->saddr.v4 = ip->saddr;
	p->daddr.v4 = ip->daddr;
	p->l4_proto = ip->protocol;
	p->ttl = ip->ttl;
	p->has_ports = 0;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->frag = 0;
	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		p->frag = PKT_FRAG_LATER;
		return 0;
	}
	parse_l4((void *)ip + ihl_len, data_end, p);
	if (ip->frag_off & bpf_htons(IP_MF)) {
		p->frag = PKT_FRAG_FIRST;
		p->has_ports = 0;
		p->tcp_flags = 0;
	}
	return 0;
}

#endif /* KX_BPF_PARSE_H */
