/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Turning a packet into an ICMP port unreachable back to its sender, in
 * place: the client of a service without endpoints fails at once with
 * ECONNREFUSED, as with kube-proxy's REJECT.
 */
#ifndef KX_BPF_ICMP_H
#define KX_BPF_ICMP_H

#include "csum.h"
#include "parse.h"

/* Bytes of the original L4 header quoted: all of a basic TCP header, 8 of UDP. */
#define ICMP_QUOTE_TCP 20
#define ICMP_QUOTE_UDP 8

struct icmp_err_hdr {
	struct iphdr ip;
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 unused;
};

/* ICMP checksum over header + quoted IP header + quoted L4 (len bytes). */
#define ICMP_CSUM(skb, off, len, out)                                      \
	({                                                                 \
		__u16 words[(len) / 2];                                    \
		int __err = bpf_skb_load_bytes(skb, off, words, len);      \
		if (!__err)                                                \
			out = csum_words(words, (len) / 2);                \
		__err;                                                     \
	})

/*
 * Rewrite p's packet into: Ethernet back to the sender, IPv4 from the
 * original destination (the VIP) to the original source, ICMP type 3 code 3,
 * the original IPv4 header and the first bytes of its L4 header. Only packets
 * without IP options are answered (pods send none). Returns 0 or -1.
 */
static __always_inline int icmp_port_unreach(struct __sk_buff *skb, const struct pkt *p)
{
	__u32 quote = p->l4_proto == IPPROTO_TCP ? ICMP_QUOTE_TCP : ICMP_QUOTE_UDP;
	__u32 ip_off = ETH_HLEN + sizeof(struct iphdr);
	struct icmp_err_hdr h = {};
	__u8 macs[2 * ETH_ALEN];
	__u16 csum = 0;

	if (p->l4off != ip_off || skb->len < ip_off + quote)
		return -1;
	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return -1;
	/* Keep original IP header + quote, then open room for the new headers. */
	if (bpf_skb_change_tail(skb, ip_off + quote, 0))
		return -1;
	if (bpf_skb_adjust_room(skb, sizeof(h), BPF_ADJ_ROOM_MAC, 0))
		return -1;

	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(sizeof(h) + sizeof(struct iphdr) + quote);
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_ICMP;
	h.ip.saddr = p->daddr.v4;
	h.ip.daddr = p->saddr.v4;
	h.ip.check = csum_words((__u16 *)&h.ip, sizeof(h.ip) / 2);
	h.type = ICMP_DEST_UNREACH;
	h.code = ICMP_PORT_UNREACH;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0))
		return -1;

	/* The ICMP checksum covers its header and everything quoted after it. */
	if (p->l4_proto == IPPROTO_TCP) {
		if (ICMP_CSUM(skb, ip_off, 8 + sizeof(struct iphdr) + ICMP_QUOTE_TCP, csum))
			return -1;
	} else {
		if (ICMP_CSUM(skb, ip_off, 8 + sizeof(struct iphdr) + ICMP_QUOTE_UDP, csum))
			return -1;
	}
	if (bpf_skb_store_bytes(skb, ip_off + 2, &csum, sizeof(csum), 0))
		return -1;

	/* Back to the sender: its MAC becomes the destination. */
	{
		__u8 swapped[2 * ETH_ALEN];

		__builtin_memcpy(swapped, macs + ETH_ALEN, ETH_ALEN);
		__builtin_memcpy(swapped + ETH_ALEN, macs, ETH_ALEN);
		if (bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0))
			return -1;
	}
	return 0;
}


/* Is p's packet an ICMP echo request (type 8)? */
static __always_inline bool is_icmp_echo(struct __sk_buff *skb, const struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *type = data + p->l4off;

	if (p->l4_proto != IPPROTO_ICMP || p->l4off > ETH_HLEN + 60)
		return false;
	if ((void *)(type + 4) > data_end) /* type, code, checksum */
		return false;
	return *type == ICMP_ECHO && type[1] == 0;
}

/*
 * Turn an echo request into its reply in place: MACs and IPv4 addresses
 * swapped (the IPv4 checksum is a sum, order does not change it), type 0,
 * the ICMP checksum adjusted for the type word (RFC 1624). Returns 0 or -1.
 */
static __always_inline int icmp_echo_reply(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	__u8 mac[ETH_ALEN];
	__u16 *icmp, old;
	__u32 sum;

	if ((void *)(ip + 1) > data_end || p->l4off > ETH_HLEN + 60)
		return -1;
	icmp = data + p->l4off;
	if ((void *)(icmp + 2) > data_end)
		return -1;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	ip->saddr = p->daddr.v4;
	ip->daddr = p->saddr.v4;
	old = icmp[0];
	((__u8 *)icmp)[0] = ICMP_ECHOREPLY;
	sum = (__u16)~icmp[1];
	sum += (__u16)~old;
	sum += icmp[0];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	icmp[1] = (__u16)~sum;
	return 0;
}

#endif /* KX_BPF_ICMP_H */
