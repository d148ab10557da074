// SPDX-License-Identifier: GPL-2.0
/*
 * tc_netdev: TC ingress of the node's uplink, i.e. what other nodes send.
 * Replies from backends on other nodes get their source back to VIP:port
 * (the conntrack entry was made here, where the client's packet was
 * DNATed); anything for a pod of this node goes straight into it with
 * bpf_redirect_peer; an ExternalIP or LB IP of a Service without endpoints
 * is refused with ICMP port unreachable, as kube-proxy's REJECT (xdp_netdev
 * passes those on: growing a frame into an ICMP error is skb work);
 * everything else reaches the kernel untouched.
 */
#include "lib/common.h"
#include "lib/ctx.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct_apply.h"
#include "lib/deliver.h"
#include "lib/lb.h"
#include "lib/icmp.h"
#include "lib/icmp_error.h"
#include "lib/fib.h"

/*
 * Is p for an external address (not the node's own: its stack answers for
 * its ports) of a Service without endpoints? 1: refuse it; -1: drop it (a
 * source outside the LB's ranges, or policy Local: kube-proxy drops those);
 * 0: not such a packet.
 */
static __always_inline int external_without_backends(const struct pkt *p)
{
	struct kx_config *c = config_get();
	struct kx_svc_val *svc;

	if (!p->has_ports || p->frag || !c || is_node_addr(c, p->daddr.v4))
		return 0;
	svc = svc_lookup(p, KX_SCOPE_EXTERNAL);
	if (!svc || svc->count)
		return 0;
	if (svc->flags & KX_SVC_F_LOCAL)
		return -1;
	if ((svc->flags & KX_SVC_F_SRC_RANGES) && !src_allowed(svc->id, p->saddr.v4))
		return -1;
	return 1;
}

/* Answer with ICMP port unreachable, back out of the uplink towards the sender. */
static __always_inline int refuse(struct __sk_buff *skb, const struct pkt *p)
{
	if (icmp_port_unreach(skb, p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_REJECT_NO_BACKEND);
	return bpf_redirect(skb->ifindex, 0);
}

/* Everything other nodes send to this one enters here (TC ingress of the uplink). */
SEC("tc")
int tc_netdev(struct __sk_buff *skb)
{
	struct kx_endpoint *ep;
	struct kx_ct_val *ct;
	struct pkt p;

	if (parse_eth_proto(skb) != bpf_htons(ETH_P_IP) || parse_ipv4(skb, &p)) {
		stat_count(skb, KX_STAT_PASS);
		return TC_ACT_OK;
	}
	ct = p.has_ports ? ct_arrival_hit(&p) : NULL;
	if (ct && ct_apply(skb, &p, ct))
		return drop(skb, KX_STAT_DROP_REWRITE);
	if (p.l4_proto == IPPROTO_ICMP) {
		int ret = icmp_error_revnat(skb, &p);

		if (ret < 0)
			return drop(skb, KX_STAT_DROP_REWRITE);
		if (ret == ICMP_ERR_EXTERNAL) /* to a client outside: out again, as its replies */
			return out_of_uplink(skb);
	}
	ep = endpoint_lookup(p.daddr.v4);
	if (ep)
		return deliver_local(skb, &p, ep, KX_VIA_PEER, ct != NULL);
	switch (external_without_backends(&p)) {
	case 1:
		return refuse(skb, &p);
	case -1:
		return drop(skb, KX_STAT_DROP_EXT_NO_BACKEND);
	}
	stat_count(skb, KX_STAT_PASS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
