// SPDX-License-Identifier: GPL-2.0
/*
 * tc_netdev_out: TC egress of the node's uplink. A hostNetwork backend (an
 * endpoint at the node's own address) of a node port, ExternalIP or LB IP
 * is reached by xdp_netdev's DNAT and XDP_PASS; its reply leaves from a
 * socket of the node, still carrying the backend's port, and gets its
 * source back to the address and port the client asked for here (ICMP
 * errors about such a flow too). Only packets of a local socket can be such
 * replies: forwarded traffic (pods to other nodes, the uplink's own
 * redirects) carries none and leaves at once, uncounted.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct_apply.h"
#include "lib/icmp_error.h"

/* What the node's own sockets send out of the uplink (TC egress). */
SEC("tc")
int tc_netdev_out(struct __sk_buff *skb)
{
	struct kx_ct_val *ct;
	struct pkt p;

	if (!skb->sk) /* forwarded: not the node's own reply */
		return TC_ACT_OK;
	if (parse_eth_proto(skb) != bpf_htons(ETH_P_IP) || parse_ipv4(skb, &p))
		return TC_ACT_OK;
	ct = p.has_ports ? ct_reply_hit(&p) : NULL;
	if (ct && ct_apply(skb, &p, ct))
		return drop(skb, KX_STAT_DROP_REWRITE);
	if (p.l4_proto == IPPROTO_ICMP && icmp_error_revnat(skb, &p) < 0)
		return drop(skb, KX_STAT_DROP_REWRITE);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
