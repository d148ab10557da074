/* SPDX-License-Identifier: GPL-2.0 */
/* Parsing Ethernet + IPv4 + TCP/UDP into a flat struct pkt, bounds-checked. */
#ifndef KX_BPF_PARSE_H
#define KX_BPF_PARSE_H

#include "common.h"

/* What the programs need to know about one IPv4 packet. */
struct pkt {
	__u32 l3off; /* offset of the IPv4 header */
	__u32 l4off; /* offset of the TCP/UDP header (valid when has_ports) */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 has_ports; /* TCP or UDP, not a fragment, header present */
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__u8 ttl;
	__u8 frag; /* a fragment (MF set or an offset): no ports to read */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* EtherType of the frame in [data, data_end), or 0 when it is shorter than an Ethernet header. */
static __always_inline __be16 parse_eth_proto_data(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	return eth->h_proto;
}

static __always_inline __be16 parse_eth_proto(struct __sk_buff *skb)
{
	return parse_eth_proto_data((void *)(long)skb->data, (void *)(long)skb->data_end);
}

/*
 * Fill p from an IPv4 frame. Returns 0, or -1 when the IPv4 header is
 * truncated or invalid. A fragment, an unknown protocol or a truncated L4
 * header leaves has_ports at 0: such packets are never load-balanced.
 */
static __always_inline int parse_ipv4_data(void *data, void *data_end, struct pkt *p)
{
	struct iphdr *ip = data + ETH_HLEN;
	__u32 ihl_len;

	if ((void *)(ip + 1) > data_end)
		return -1;
	ihl_len = ip->ihl * 4;
	if (ip->version != 4 || ihl_len < sizeof(*ip))
		return -1;

	p->l3off = ETH_HLEN;
	p->l4off = ETH_HLEN + ihl_len;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->has_ports = 0;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;

	p->frag = 0;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
		p->frag = 1;
		return 0;
	}

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ip + ihl_len;

		if ((void *)(tcp + 1) > data_end)
			return 0;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		p->has_ports = 1;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)ip + ihl_len;

		if ((void *)(udp + 1) > data_end)
			return 0;
		p->sport = udp->source;
		p->dport = udp->dest;
		p->has_ports = 1;
	}
	return 0;
}

/* parse_ipv4_data() on a TC packet. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	return parse_ipv4_data((void *)(long)skb->data, (void *)(long)skb->data_end, p);
}

#endif /* KX_BPF_PARSE_H */
