/* SPDX-License-Identifier: GPL-2.0 */
/* Delivering a packet straight into a pod of this node, as a bridge would. */
#ifndef KX_BPF_REDIRECT_H
#define KX_BPF_REDIRECT_H

#include "maps.h"
#include "stats.h"

/*
 * If daddr is a pod of this node, set the Ethernet header a bridge would
 * deliver (host veth MAC -> pod MAC) and hand the packet to the pod's
 * interface with bpf_redirect_peer (TC ingress only). Returns the TC verdict,
 * or -1 when daddr is not a local pod.
 */
static __always_inline int redirect_to_pod(struct __sk_buff *skb, __be32 daddr)
{
	struct kx_endpoint *ep = endpoint_lookup(daddr);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!ep)
		return -1;
	if ((void *)(eth + 1) > data_end)
		return drop(skb, KX_STAT_DROP_REWRITE);
	__builtin_memcpy(eth->h_dest, ep->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ep->host_mac, ETH_ALEN);
	stat_count(skb, KX_STAT_REDIRECT_LOCAL);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* Into the local pod that daddr is, or else to the kernel untouched. */
static __always_inline int deliver(struct __sk_buff *skb, __be32 daddr)
{
	int ret = redirect_to_pod(skb, daddr);

	if (ret >= 0)
		return ret;
	stat_count(skb, KX_STAT_PASS);
	return TC_ACT_OK;
}

#endif /* KX_BPF_REDIRECT_H */
