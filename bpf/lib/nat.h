/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Address and port rewrites with incremental checksum updates. The csum
 * helpers handle both full checksums and CHECKSUM_PARTIAL (the pseudo-header
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

/*
 * Rewrite the source (is_src) or destination address and port of p's packet
 * to addr:port. Returns 0, or a negative helper error.
 */
static __always_inline int nat_rewrite(struct __sk_buff *skb, struct pkt *p,
				       bool is_src, __be32 addr, __be16 port)
{
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__be32 old_addr = is_src ? p->saddr : p->daddr;
	__be16 old_port = is_src ? p->sport : p->dport;
	__u32 addr_off = p->l3off + (is_src ? __builtin_offsetof(struct iphdr, saddr) :
					      __builtin_offsetof(struct iphdr, daddr));
	__u32 port_off = p->l4off + (is_src ? 0 : 2);
	__u32 csum_off = l4_csum_off(p);
	int err;

	err = bpf_l4_csum_replace(skb, csum_off, old_addr, addr,
				  BPF_F_PSEUDO_HDR | mangled | sizeof(addr));
	if (err)
		return err;
	if (old_port != port) {
		err = bpf_l4_csum_replace(skb, csum_off, old_port, port, mangled | sizeof(port));
		if (err)
			return err;
	}
	err = bpf_l3_csum_replace(skb, p->l3off + __builtin_offsetof(struct iphdr, check),
				  old_addr, addr, sizeof(addr));
	if (err)
		return err;
	err = bpf_skb_store_bytes(skb, addr_off, &addr, sizeof(addr), 0);
	if (err)
		return err;
	err = bpf_skb_store_bytes(skb, port_off, &port, sizeof(port), 0);
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
