/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Delivery into a pod of this node: the one gate every path into a local pod
 * goes through (pod to pod, the uplink to a pod, a node port's local backend
 * after xdp_netdev's DNAT, the node's stack to a pod), so the destination's
 * ingress policy has a single place to be checked.
 */
#ifndef KX_BPF_DELIVER_H
#define KX_BPF_DELIVER_H

#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "stats.h"

/* How a packet reaches the pod. */
enum kx_via {
	KX_VIA_PEER = 0, /* from a TC ingress: bpf_redirect_peer into the pod's namespace */
	KX_VIA_VETH = 1, /* already leaving by the pod's veth (TC egress): let it go on */
};

/*
 * Hand p's packet to local pod ep. Unless judged (a conntrack entry let its
 * flow through, or the sender's hook judged it for both ends), the pod's
 * ingress policy judges it first. Via the peer, the Ethernet header a
 * bridge would deliver is set (host veth MAC -> pod MAC) and the packet
 * counted redirect_local. Returns the TC verdict.
 */
static __always_inline int deliver_local(struct kx_ctx *ctx, const struct pkt *p,
					 const struct kx_endpoint *ep, enum kx_via via, bool judged)
{
	struct ethhdr *eth = ctx_data(ctx);
	__u32 why;

	if (!judged && policy_active() && (why = policy_new_flow(p, NULL, policy_ep(ep->addr))))
		return drop(ctx, why);
	if (via == KX_VIA_VETH)
		return TC_ACT_OK;
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return drop(ctx, KX_STAT_DROP_REWRITE);
	__builtin_memcpy(eth->h_dest, ep->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ep->host_mac, ETH_ALEN);
	stat_count(ctx, KX_STAT_REDIRECT_LOCAL);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* Into the local pod p is for, or else to the kernel untouched (counted pass). */
static __always_inline int deliver(struct kx_ctx *ctx, const struct pkt *p, bool judged)
{
	struct kx_endpoint *ep = endpoint_lookup(p->daddr.v4);

	if (ep)
		return deliver_local(ctx, p, ep, KX_VIA_PEER, judged);
	stat_count(ctx, KX_STAT_PASS);
	return TC_ACT_OK;
}

#endif /* KX_BPF_DELIVER_H */
