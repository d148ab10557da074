/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Address and port rewrites with incremental checksum updates. The L4 csum
 * helper handles both full checksums and CHECKSUM_PARTIAL (the pseudo-header
 * sum a pod's veth usually hands over); BPF_F_MARK_MANGLED_0 keeps a UDP
 * checksum of 0 ("none") untouched.
 */
#ifndef KX_BPF_NAT_H
#define KX_BPF_NAT_H

#include "parse.h"

static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->l4off + __builtin_offsetof(struct tcphdr, check);
	return p->l4off + __builtin_offsetof(struct udphdr, check);
}

/* RFC 1624: the header checksum after a 32-bit field changes from -> to. */
static __always_inline __u16 csum16_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * Rewrite the source (is_src) or destination address and port of p's packet
 * to addr:port. Address, port and IPv4 checksum are written directly (TC
 * unclones a packet before a program that writes it runs); only the L4
 * checksum goes through the helper, which alone knows whether the packet
 * carries a full checksum or CHECKSUM_PARTIAL. Returns 0, or a negative
 * error.
 */
static __always_inline int nat_rewrite(struct __sk_buff *skb, struct pkt *p,
				       bool is_src, __be32 addr, __be16 port)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__be32 old_addr = is_src ? p->saddr : p->daddr;
	__be16 old_port = is_src ? p->sport : p->dport;
	struct iphdr *ip = data + ETH_HLEN;
	__u32 l4off = p->l4off;
	__be16 *ports;
	int err;

	if ((void *)(ip + 1) > data_end || l4off > ETH_HLEN + 60)
		return -1;
	ports = data + l4off;
	if ((void *)(ports + 2) > data_end)
		return -1;
	ip->check = csum16_replace4(ip->check, old_addr, addr);
	if (is_src) {
		ip->saddr = addr;
		ports[0] = port;
	} else {
		ip->daddr = addr;
		ports[1] = port;
	}
	err = bpf_l4_csum_replace(skb, l4_csum_off(p), old_addr, addr,
				  BPF_F_PSEUDO_HDR | mangled | sizeof(addr));
	if (!err && old_port != port)
		err = bpf_l4_csum_replace(skb, l4_csum_off(p), old_port, port,
					  mangled | sizeof(port));
	if (err)
		return err;
	if (is_src) {
		p->saddr = addr;
		p->sport = port;
	} else {
		p->daddr = addr;
		p->dport = port;
	}
	return 0;
}

#endif /* KX_BPF_NAT_H */
