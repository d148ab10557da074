/* SPDX-License-Identifier: GPL-2.0 */
/* Answering a pod's ARP requests with the host veth MAC: the bridge's L2 role. */
#ifndef KX_BPF_ARP_H
#define KX_BPF_ARP_H

#include "maps.h"
#include "stats.h"

/* An Ethernet/IPv4 ARP packet body (RFC 826), unaligned as on the wire. */
struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

struct arp_frame {
	struct ethhdr eth;
	struct arp_ipv4 arp;
} __attribute__((packed));

/*
 * Answer a request from the pod behind this veth for any address but its
 * own, with the host veth's MAC, and send the reply back into the pod. ARP
 * claiming an address that is not the pod's is dropped (anti-spoofing, as
 * for IPv4); the pod's replies, gratuitous ARP and probes from 0.0.0.0 go to
 * the kernel untouched.
 */
static __always_inline int arp_answer(struct __sk_buff *skb)
{
	struct kx_endpoint *ep;
	struct arp_frame f;
	__be32 asked;

	if (bpf_skb_load_bytes(skb, 0, &f, sizeof(f)))
		return TC_ACT_OK;
	if (f.arp.htype != bpf_htons(ARPHRD_ETHER) || f.arp.ptype != bpf_htons(ETH_P_IP) ||
	    f.arp.hlen != ETH_ALEN || f.arp.plen != 4 || !f.arp.spa)
		return TC_ACT_OK; /* not Ethernet/IPv4, or a probe from 0.0.0.0 */
	ep = endpoint_lookup(f.arp.spa);
	if (!ep || ep->ifindex != skb->ifindex)
		return drop(skb, KX_STAT_DROP_SPOOFED); /* claims another's address */
	if (f.arp.op != bpf_htons(ARPOP_REQUEST) || f.arp.tpa == f.arp.spa)
		return TC_ACT_OK; /* replies to the node, gratuitous ARP */

	asked = f.arp.tpa;
	f.arp.op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(f.arp.tha, f.arp.sha, ETH_ALEN);
	f.arp.tpa = f.arp.spa;
	__builtin_memcpy(f.arp.sha, ep->host_mac, ETH_ALEN);
	f.arp.spa = asked;
	__builtin_memcpy(f.eth.h_dest, f.eth.h_source, ETH_ALEN);
	__builtin_memcpy(f.eth.h_source, ep->host_mac, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, &f, sizeof(f), 0))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_ARP_REPLY);
	return bpf_redirect_peer(skb->ifindex, 0);
}

#endif /* KX_BPF_ARP_H */
