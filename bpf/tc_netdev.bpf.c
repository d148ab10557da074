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
#include "lib/nat.h"
#include "lib/ct.h"
#include "lib/redirect.h"

/* Reverse NAT on a conntrack reply hit; -1 if the rewrite failed. */
static __always_inline int uplink_revnat(struct __sk_buff *skb, struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);

	if (!ct || ct->dir != KX_CT_REPLY)
		return 0;
	ct_touch(ct, p);
	if (nat_rewrite(skb, p, true, ct->nat_addr, ct->nat_port))
		return -1;
	stat_count(skb, KX_STAT_REVNAT);
	return 0;
}

/* Everything other nodes send to this one enters here (TC ingress of the uplink). */
SEC("tc")
int tc_netdev(struct __sk_buff *skb)
{
	struct pkt p;
	int ret;

	if (parse_eth_proto(skb) != bpf_htons(ETH_P_IP) || parse_ipv4(skb, &p))
		goto pass;
	if (p.has_ports && uplink_revnat(skb, &p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	ret = redirect_to_pod(skb, p.daddr);
	if (ret >= 0)
		return ret;
pass:
	stat_count(skb, KX_STAT_PASS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
