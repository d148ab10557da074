/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Address and port rewrites with incremental checksum updates (RFC 1624),
 * written straight into the packet. The L4 checksum field means different
 * things by the skb's ip_summed: a full checksum (CHECKSUM_NONE or
 * _UNNECESSARY: addresses and ports change it) or, with CHECKSUM_PARTIAL
 * (what a pod's veth hands over for TCP), only the pseudo-header sum (only
 * addresses change it). The program reads ip_summed through
 * bpf_cast_to_kern_ctx(), which the verifier inlines; only CHECKSUM_COMPLETE
 * (skb->csum must follow, which a program cannot write) and kernels without
 * the kfunc (before 6.2) take bpf_l4_csum_replace(), ~37 ns a call here.
 * The summed == PARTIAL arithmetic is the helper's inet_proto_csum_replace4()
 * for a pseudo-header field; the other is RFC 1624 eq. 3.
 */
#ifndef KX_BPF_NAT_H
#define KX_BPF_NAT_H

#include <bpf/bpf_core_read.h>
#include "parse.h"

/* include/linux/skbuff.h values of skb->ip_summed (not in BTF: #defines). */
#define KX_CHECKSUM_NONE 0
#define KX_CHECKSUM_UNNECESSARY 1
#define KX_CHECKSUM_COMPLETE 2
#define KX_CHECKSUM_PARTIAL 3
#define KX_CSUM_MANGLED_0 0xffff /* a computed UDP checksum of 0, sent as ~0 */

/*
 * Only one object of the linked set may declare the kfunc: Debian 12's
 * libbpf 1.1 linker (bpftool gen object) fails on an extern function seen in
 * two objects ("failed to resolve size of underlying type", fixed in libbpf
 * 1.5). tc_from_pod, the pod hot path, defines KX_NAT_KFUNC; the uplink and
 * to-pod programs, which see far fewer rewrites, use the helper.
 */
#ifdef KX_NAT_KFUNC
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* skb->ip_summed, or -1 when this kernel cannot tell (no kfunc). */
static __always_inline int skb_ip_summed(struct __sk_buff *skb)
{
	struct sk_buff *kskb;

	if (!bpf_cast_to_kern_ctx)
		return -1;
	kskb = bpf_cast_to_kern_ctx(skb);
	return BPF_CORE_READ_BITFIELD(kskb, ip_summed);
}
#else
static __always_inline int skb_ip_summed(struct __sk_buff *skb)
{
	return -1;
}
#endif

static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->l4off + __builtin_offsetof(struct tcphdr, check);
	return p->l4off + __builtin_offsetof(struct udphdr, check);
}

/* One's-complement sum folded to 16 bits, not inverted. */
static __always_inline __u16 csum_fold_sum(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* RFC 1624 eq. 3: checksum check after a 32-bit field changes from -> to. */
static __always_inline __u16 csum16_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	return (__u16)~csum_fold_sum(sum);
}

/* The same for a 16-bit field. */
static __always_inline __u16 csum16_replace2(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from;
	sum += to;
	return (__u16)~csum_fold_sum(sum);
}

/*
 * The new L4 checksum field after the address changes from old_addr to addr
 * and the port from old_port to port, for a packet in checksum state summed.
 */
static __always_inline __u16 l4_csum_update(__u16 field, int summed, bool udp, __be32 old_addr,
					    __be32 addr, __be16 old_port, __be16 port)
{
	if (udp && field == 0)
		return 0; /* UDP without a checksum keeps none */
	if (summed == KX_CHECKSUM_PARTIAL) {
		/* The field holds the pseudo-header sum itself, not its complement. */
		field = ~csum16_replace4(~field, old_addr, addr);
	} else {
		field = csum16_replace4(field, old_addr, addr);
		field = csum16_replace2(field, old_port, port);
	}
	if (udp && field == 0)
		field = KX_CSUM_MANGLED_0;
	return field;
}

/* The L4 checksum by the helper: CHECKSUM_COMPLETE, or no kfunc. */
static __always_inline int l4_csum_by_helper(struct __sk_buff *skb, const struct pkt *p,
					     __be32 old_addr, __be32 addr, __be16 old_port,
					     __be16 port)
{
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int err;

	err = bpf_l4_csum_replace(skb, l4_csum_off(p), old_addr, addr,
				  BPF_F_PSEUDO_HDR | mangled | sizeof(addr));
	if (!err && old_port != port)
		err = bpf_l4_csum_replace(skb, l4_csum_off(p), old_port, port,
					  mangled | sizeof(port));
	return err;
}

/*
 * Rewrite the source (is_src) or destination address and port of p's packet
 * to addr:port, with the IPv4 and L4 checksums (TC unclones a packet before
 * a program that writes it runs). Returns 0, or a negative error.
 */
static __always_inline int nat_rewrite(struct __sk_buff *skb, struct pkt *p,
				       bool is_src, __be32 addr, __be16 port)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__be32 old_addr = is_src ? p->saddr : p->daddr;
	__be16 old_port = is_src ? p->sport : p->dport;
	bool udp = p->proto == IPPROTO_UDP;
	int summed = skb_ip_summed(skb);
	struct iphdr *ip = data + ETH_HLEN;
	__u32 l4off = p->l4off;
	__be16 *l4, *check;

	if ((void *)(ip + 1) > data_end || l4off > ETH_HLEN + 60)
		return -1;
	l4 = data + l4off; /* ports, then the UDP check at [3], TCP's at [8] */
	check = udp ? &l4[3] : &l4[8];
	if ((void *)(check + 1) > data_end) /* covers the ports before it */
		return -1;
	ip->check = csum16_replace4(ip->check, old_addr, addr);
	if (is_src) {
		ip->saddr = addr;
		l4[0] = port;
	} else {
		ip->daddr = addr;
		l4[1] = port;
	}
	if (summed == KX_CHECKSUM_COMPLETE || summed < 0) {
		if (l4_csum_by_helper(skb, p, old_addr, addr, old_port, port))
			return -1;
	} else {
		*check = l4_csum_update(*check, summed, udp, old_addr, addr, old_port, port);
	}
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
