// SPDX-License-Identifier: GPL-2.0
/*
 * tc_to_pod: TC egress of every pod's host-side veth, i.e. what the node's
 * own stack sends to a pod. Replies from a backend on the node's host network
 * (the API server behind default/kubernetes) come this way and get their
 * source back to VIP:port here; pod-to-pod traffic skips this hook
 * (bpf_redirect_peer) and was already translated by tc_from_pod. Traffic
 * from a pod of this node that comes this way went through the stack (a
 * hostPort's DNAT): its replies are marked to go back the same way.
 */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/ct_apply.h"
#include "lib/deliver.h"
#include "lib/icmp_error.h"

/*
 * Did the node itself send p (kubelet probes, hostNetwork pods, its own
 * sockets)? Then a pod's ingress policy never applies: a socket of this
 * host is attached to the skb (the kernel forwards no skb that has one),
 * or the source is one of its addresses. Forwarded traffic (a hostPort's
 * DNAT from elsewhere) has neither, nor is a pod's address ever the node.
 */
static __always_inline bool from_this_node(struct __sk_buff *skb, const struct pkt *p,
					   bool from_pod)
{
	struct kx_config *c;

	if (from_pod)
		return false;
	if (skb->sk)
		return true;
	c = config_get();
	return c && is_node_addr(c, p->saddr.v4);
}

/* What the node's stack sends to a pod leaves here (TC egress of its host-side veth). */
SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	struct kx_ct_val *ct = NULL;
	struct kx_endpoint *ep;
	bool from_pod;
	struct pkt p;
	int ret;

	if (parse_eth_proto(skb) != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (parse_ipv4(skb, &p))
		return TC_ACT_OK;
	if (p.l4_proto == IPPROTO_ICMP && icmp_error_revnat(skb, &p) < 0)
		return drop(skb, KX_STAT_DROP_REWRITE);
	from_pod = endpoint_lookup(p.saddr.v4);
	/* a pod's packet through the stack (a hostPort) is looked up only for
	 * policy's sake: without policy here it costs what it did */
	if (p.has_ports && (!from_pod || policy_active())) {
		ct = ct_arrival_hit(&p);
		if (ct && !from_pod && ct_apply(skb, &p, ct))
			return drop(skb, KX_STAT_DROP_REWRITE);
	}
	ep = endpoint_lookup(p.daddr.v4);
	if (!ep)
		ret = TC_ACT_OK; /* not (or no longer) a pod of this node: the stack's business */
	else
		ret = deliver_local(skb, &p, ep, KX_VIA_VETH, ct || from_this_node(skb, &p, from_pod));
	if (ret == TC_ACT_OK && from_pod && p.has_ports)
		ct_note_stack_flow(&p); /* delivered: its replies go back through the stack */
	return ret;
}

char LICENSE[] SEC("license") = "GPL";
