/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one NAT writer: an address and port of the packet rewritten in place,
 * the IPv4 and L4 checksums updated incrementally by the checksum mode of
 * the context (lib/ctx.h), for TC and XDP alike. The summed == PARTIAL
 * arithmetic is what the kernel does to a pseudo-header field
 * (inet_proto_csum_replace4); the full one is RFC 1624 eq. 3.
 */
#ifndef KX_BPF_NAT_H
#define KX_BPF_NAT_H

#include "csum.h"
#include "parse.h"

static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	if (p->l4_proto == IPPROTO_TCP)
		return p->l4off + __builtin_offsetof(struct tcphdr, check);
	return p->l4off + __builtin_offsetof(struct udphdr, check);
}

/*
 * The new L4 checksum field after the address changes from old_addr to addr
 * and the port from old_port to port, in checksum mode (full or pseudo).
 */
static __always_inline __u16 l4_csum_update(__u16 field, int mode, bool udp, __be32 old_addr,
					    __be32 addr, __be16 old_port, __be16 port)
{
	if (udp && field == 0)
		return 0; /* UDP without a checksum keeps none */
	if (mode == KX_CSUM_PSEUDO) {
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

/* The L4 checksum by the helper (KX_CSUM_HELPER: TC only). */
static __always_inline int l4_csum_by_helper(struct kx_ctx *ctx, const struct pkt *p,
					     __be32 old_addr, __be32 addr, __be16 old_port,
					     __be16 port)
{
	__u64 mangled = p->l4_proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int err;

	err = ctx_l4_csum_replace(ctx, l4_csum_off(p), old_addr, addr,
				  BPF_F_PSEUDO_HDR | mangled | sizeof(addr));
	if (!err && old_port != port)
		err = ctx_l4_csum_replace(ctx, l4_csum_off(p), old_port, port,
					  mangled | sizeof(port));
	return err;
}

/*
 * Rewrite the source (is_src) or destination address and port of p's packet
 * to addr:port, with the IPv4 and L4 checksums in checksum mode (TC unclones
 * a packet before a program that writes it runs). p follows. Returns 0, or
 * -1 when the packet is too short or the helper failed.
 */
static __always_inline int nat_write(struct kx_ctx *ctx, struct pkt *p, bool is_src,
				     __be32 addr, __be16 port, int mode)
{
	void *data = ctx_data(ctx);
	void *data_end = ctx_data_end(ctx);
	__be32 old_addr = is_src ? p->saddr.v4 : p->daddr.v4;
	__be16 old_port = is_src ? p->sport : p->dport;
	bool udp = p->l4_proto == IPPROTO_UDP;
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
	if (mode == KX_CSUM_HELPER) {
		if (l4_csum_by_helper(ctx, p, old_addr, addr, old_port, port))
			return -1;
	} else {
		*check = l4_csum_update(*check, mode, udp, old_addr, addr, old_port, port);
	}
	if (is_src) {
		p->saddr.v4 = addr;
		p->sport = port;
	} else {
		p->daddr.v4 = addr;
		p->dport = port;
	}
	return 0;
}

/* nat_write() in the context's own checksum mode. */
static __always_inline int nat_rewrite(struct kx_ctx *ctx, struct pkt *p, bool is_src,
				       __be32 addr, __be16 port)
{
	return nat_write(ctx, p, is_src, addr, port, ctx_csum_mode(ctx));
}

#endif /* KX_BPF_NAT_H */
