// SPDX-License-Identifier: GPL-2.0
/*
 * tc_netdev: TC ingress of the node's uplink, i.e. what other nodes send.
 * Replies from backends on other nodes get their source back to VIP:port
 * (the conntrack entry was made here, where the client's packet was
 * DNATed); anything for a pod of this node goes straight into it with
 * bpf_redirect_peer; everything else reaches the kernel untouched.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/revnat.h"
#include "lib/redirect.h"

/* Everything other nodes send to this one enters here (TC ingress of the uplink). */
SEC("tc")
int tc_netdev(struct __sk_buff *skb)
{
	struct pkt p;

	if (parse_eth_proto(skb) != bpf_htons(ETH_P_IP) || parse_ipv4(skb, &p)) {
		stat_count(skb, KX_STAT_PASS);
		return TC_ACT_OK;
	}
	if (p.has_ports && revnat_reply(skb, &p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	if (p.proto == IPPROTO_ICMP && revnat_icmp_error(skb, &p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	return deliver(skb, p.daddr);
}

char LICENSE[] SEC("license") = "GPL";
