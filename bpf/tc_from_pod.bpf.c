// SPDX-License-Identifier: GPL-2.0
/*
 * tc_from_pod: TC ingress of every pod's host-side veth, i.e. everything a
 * pod sends. It plays the bridge (ARP answers, delivery to pods of the node)
 * and the service proxy (ClusterIP load balancing, DNAT, reverse NAT).
 */
/* ctx.h: read skb->ip_summed via the kfunc (see there) */
#define KX_CTX_KFUNC
#include "lib/common.h"
#include "lib/ctx.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/ct_apply.h"
#include "lib/lb.h"
#include "lib/icmp.h"
#include "lib/icmp_error.h"
#include "lib/arp.h"
#include "lib/deliver.h"
#include "lib/fib.h"
#include "lib/policy.h"

#define CONTINUE (-1)

/* Anti-spoofing: the source must be the pod wired behind this very veth. */
static __always_inline bool source_is_pod(struct __sk_buff *skb, __be32 saddr)
{
	struct kx_endpoint *ep = endpoint_lookup(saddr);

	return ep && ep->ifindex == skb->ifindex;
}

/* A ping to a ClusterIP: answered here, as a VIP on kube-dummy-if answers. */
static __always_inline int echo_reply(struct __sk_buff *skb, struct pkt *p)
{
	if (icmp_echo_reply(skb, p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_ECHO_REPLY);
	return bpf_redirect_peer(skb->ifindex, 0);
}

/* Reject: turn the packet into ICMP port unreachable and send it back. */
static __always_inline int reject(struct __sk_buff *skb, const struct pkt *p, __u32 why)
{
	if (icmp_port_unreach(skb, p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, why);
	return bpf_redirect_peer(skb->ifindex, 0);
}

/*
 * The entries of a new flow from p to backend b. A pod sent to its own
 * Service and was picked as the backend (hairpin): DNAT to itself and SNAT
 * to the VIP, keeping its port where it can, so it sees the VIP as the
 * client (kube-router's hairpin) and its answer, sent to the VIP, comes back
 * through here.
 */
static __always_inline int new_flow_entries(const struct pkt *p, const struct kx_svc_val *svc,
					    const struct kx_backend *b, __u32 backend_id,
					    struct kx_ct_val *fwd)
{
	if (b->addr != p->saddr.v4)
		return ct_create(p, svc->id, backend_id, b, 0, fwd);
	if (!ct_create_nat2(p, svc->id, backend_id, b, p->daddr.v4, p->sport, 0, fwd))
		return 0;
	if (ct_create_snat(p, svc->id, backend_id, b, p->daddr.v4, 0, fwd))
		return -1;
	stat_add(KX_STAT_CT_PORT_MOVED, 0);
	return 0;
}

/*
 * The policy verdict on a new flow from p to backend b: after DNAT, the
 * client's address kept; a pod reaching itself through its Service is not
 * judged (a pod cannot block access to itself). 0, or the drop reason.
 */
static __always_inline __u32 service_policy(const struct pkt *p, const struct kx_backend *b)
{
	const struct kx_pol_ep *src, *dst;

	if (b->addr == p->saddr.v4 || !policy_active())
		return 0;
	src = policy_ep(p->saddr.v4);
	dst = policy_ep(b->addr);
	if (!src && !dst)
		return 0;
	return policy_verdict(src, dst, p->saddr.v4, b->addr, b->port, p->l4_proto);
}

/* First packet of a flow to a service: pick a backend, judge, record it, DNAT. */
static __always_inline int service_new_flow(struct __sk_buff *skb, struct pkt *p,
					    const struct kx_svc_val *svc)
{
	struct kx_ct_val fwd;
	struct kx_backend *b;
	__u32 backend_id = 0, why;
	bool hairpin;

	if ((svc->flags & KX_SVC_F_SRC_RANGES) && !src_allowed(svc->id, p->saddr.v4))
		return drop(skb, KX_STAT_DROP_SRC_RANGE);
	if (svc->count == 0 && (svc->flags & KX_SVC_F_LOCAL))
		return drop(skb, KX_STAT_DROP_NO_LOCAL); /* policy Local: dropped, as kube-proxy */
	if (svc->count == 0)
		return reject(skb, p, KX_STAT_REJECT_NO_BACKEND);
	b = lb_pick(svc, p, &backend_id);
	if (!b)
		return drop(skb, KX_STAT_DROP_NO_SLOT);
	why = service_policy(p, b);
	if (why)
		return drop(skb, why);
	hairpin = b->addr == p->saddr.v4;
	if (new_flow_entries(p, svc, b, backend_id, &fwd))
		return drop(skb, KX_STAT_DROP_CT_FULL);
	if (ct_nat(skb, p, &fwd))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_SVC_NEW);
	if (hairpin)
		stat_count(skb, KX_STAT_HAIRPIN);
	svc_stat(svc->id, false, skb->len, true);
	return CONTINUE;
}

/* Conntrack hit: DNAT a forward packet, restore the VIP on a reply. */
static __always_inline int ct_hit(struct __sk_buff *skb, struct pkt *p, struct kx_ct_val *ct)
{
	if (ct_apply(skb, p, ct))
		return drop(skb, KX_STAT_DROP_REWRITE);
	if (ct->dir == KX_CT_REPLY && (ct->flags & KX_CT_F_EXTERNAL))
		return out_of_uplink(skb);
	return CONTINUE;
}

/*
 * Service and conntrack handling of a TCP/UDP packet; CONTINUE to deliver
 * it, *judged set when a conntrack entry (found, or made for a service
 * flow after its policy verdict) carries its flow.
 */
static __always_inline int pod_nat(struct __sk_buff *skb, struct pkt *p, bool *judged)
{
	struct kx_ct_val *ct = ct_lookup(p);
	struct kx_svc_val *svc;

	if (ct && (ct->flags & KX_CT_F_STACK)) { /* a hostPort's reply: netfilter undoes its NAT */
		ct_touch(ct, p);
		stat_count(skb, KX_STAT_STACK_REPLY);
		return TC_ACT_OK;
	}
	if (ct && !ct_stale(ct, p, KX_SCOPE_INTERNAL)) {
		*judged = true;
		return ct_hit(skb, p, ct);
	}
	/* To a pod of this node (an inlined array lookup): no service has a
	 * pod's address, so skip the service hash (~40 ns). */
	if (endpoint_lookup(p->daddr.v4))
		return CONTINUE;
	/* A ClusterIP; or an external address of a Service (ExternalIP, LB IP, a
	 * node port of this node), served from inside as kube-proxy does. */
	svc = svc_lookup_addr(p, KX_SCOPE_INTERNAL);
	if (svc) {
		*judged = true;
		return service_new_flow(skb, p, svc);
	}
	/* As kube-proxy (nftables): a ClusterIP no Service holds is refused. */
	if (in_service_cidr(p->daddr.v4))
		return reject(skb, p, KX_STAT_REJECT_NO_SERVICE);
	/* A ClusterIP on a port its Service lacks, likewise. Asked of connection
	 * attempts only (a TCP SYN, any UDP datagram), so established traffic to
	 * other destinations pays nothing for it. */
	if ((p->l4_proto == IPPROTO_UDP || pkt_is_syn(p)) &&
	    is_known_vip(p->daddr.v4))
		return reject(skb, p, KX_STAT_REJECT_NO_PORT);
	return CONTINUE;
}

/* Everything a pod sends enters here (TC ingress of its host-side veth). */
SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	__be16 proto = parse_eth_proto(skb);
	bool judged = false;
	struct pkt p;
	__u32 why;
	int ret;

	if (proto == bpf_htons(ETH_P_ARP))
		return arp_answer(skb);
	if (proto != bpf_htons(ETH_P_IP))
		goto pass;
	if (parse_ipv4(skb, &p)) {
		stat_count(skb, KX_STAT_MALFORMED);
		return TC_ACT_OK;
	}
	if (!source_is_pod(skb, p.saddr.v4))
		return drop(skb, KX_STAT_DROP_SPOOFED);
	if (p.l4_proto == IPPROTO_ICMP && is_icmp_echo(skb, &p) && is_known_vip(p.daddr.v4))
		return echo_reply(skb, &p);
	/* A fragment carries no ports (or only the first does): it cannot be
	 * matched to a backend, so to a ClusterIP it is dropped and counted,
	 * never sent to a wrong one. Pods send TCP with DF; this is rare UDP. */
	if (p.frag && is_known_vip(p.daddr.v4))
		return drop(skb, KX_STAT_DROP_FRAGMENT);
	/* an ICMP error a backend pod sends about a service flow */
	if (p.l4_proto == IPPROTO_ICMP) {
		ret = icmp_error_revnat(skb, &p);
		if (ret < 0)
			return drop(skb, KX_STAT_DROP_REWRITE);
		if (ret == ICMP_ERR_EXTERNAL)
			return out_of_uplink(skb);
	}
	if (p.has_ports) {
		ret = pod_nat(skb, &p, &judged);
		if (ret != CONTINUE)
			return ret;
	}
	/* No service, no conntrack entry: the flow's first packet here, judged
	 * for the pod's egress and, to a pod of this node, that one's ingress. */
	if (!judged && policy_active() &&
	    (why = policy_new_flow(&p, policy_ep(p.saddr.v4), policy_ep(p.daddr.v4))))
		return drop(skb, why);
	return deliver(skb, &p, true);
pass:
	stat_count(skb, KX_STAT_PASS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
