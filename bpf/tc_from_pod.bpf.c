// SPDX-License-Identifier: GPL-2.0
/*
 * tc_from_pod: TC ingress of every pod's host-side veth, i.e. everything a
 * pod sends. It plays the bridge (ARP answers, delivery to pods of the node)
 * and the service proxy (ClusterIP load balancing, DNAT, reverse NAT).
 */
/* nat.h: read skb->ip_summed via the kfunc (see there) */
#define KX_NAT_KFUNC
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/nat.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/icmp.h"
#include "lib/arp.h"
#include "lib/redirect.h"
#include "lib/revnat.h"

#define CONTINUE (-1)

/* Anti-spoofing: the source must be the pod wired behind this very veth. */
static __always_inline bool source_is_pod(struct __sk_buff *skb, __be32 saddr)
{
	struct kx_endpoint *ep = endpoint_lookup(saddr);

	return ep && ep->ifindex == skb->ifindex;
}

/*
 * A new SYN on a conntrack entry of a closed connection (the client reuses
 * its port), or on one that no longer leads anywhere valid (its backend or
 * its service has gone or changed), is a new connection: load-balance it.
 * A retransmitted SYN of a live attempt keeps its backend.
 */
static __always_inline bool ct_stale_for_syn(const struct kx_ct_val *ct, const struct pkt *p)
{
	struct kx_svc_val *svc;
	struct kx_backend *b;
	__u32 id = ct->backend_id;

	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return false;
	if (ct->flags & KX_CT_F_CLOSING)
		return true;
	b = bpf_map_lookup_elem(&kx_backends, &id);
	if (!b || b->addr != ct->nat_addr || b->port != ct->nat_port)
		return true;
	svc = svc_lookup_addr(p, KX_SCOPE_INTERNAL);
	return !svc || svc->id != ct->svc_id;
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
 * A pod sent to its own Service and was picked as the backend (hairpin):
 * DNAT to itself and SNAT to the VIP, keeping its port, so it sees the VIP
 * as the client (kube-router's hairpin) and its answer, sent to the VIP,
 * comes back through here.
 */
static __always_inline int hairpin_new_flow(struct __sk_buff *skb, struct pkt *p,
					    const struct kx_svc_val *svc,
					    const struct kx_backend *b, __u32 backend_id)
{
	__be32 vip = p->daddr;
	__be16 cport = p->sport;

	if (ct_create_nat2(p, svc->id, backend_id, b, vip, cport, 0))
		return drop(skb, KX_STAT_DROP_CT_FULL);
	if (nat_rewrite(skb, p, false, b->addr, b->port) || nat_rewrite(skb, p, true, vip, cport))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_SVC_NEW);
	stat_count(skb, KX_STAT_HAIRPIN);
	svc_stat(svc->id, false, skb->len, true);
	return CONTINUE;
}

/* First packet of a flow to a service: pick a backend, record it, DNAT. */
static __always_inline int service_new_flow(struct __sk_buff *skb, struct pkt *p,
					    const struct kx_svc_val *svc)
{
	struct kx_backend *b;
	__u32 backend_id = 0;

	if ((svc->flags & KX_SVC_F_SRC_RANGES) && !src_allowed(svc->id, p->saddr))
		return drop(skb, KX_STAT_DROP_SRC_RANGE);
	if (svc->count == 0 && (svc->flags & KX_SVC_F_LOCAL))
		return drop(skb, KX_STAT_DROP_NO_LOCAL); /* policy Local: dropped, as kube-proxy */
	if (svc->count == 0)
		return reject(skb, p, KX_STAT_REJECT_NO_BACKEND);
	b = lb_pick(svc, p, &backend_id);
	if (!b)
		return drop(skb, KX_STAT_DROP_NO_SLOT);
	if (b->addr == p->saddr)
		return hairpin_new_flow(skb, p, svc, b, backend_id);
	if (ct_create(p, svc->id, backend_id, b))
		return drop(skb, KX_STAT_DROP_CT_FULL);
	if (nat_rewrite(skb, p, false, b->addr, b->port))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, KX_STAT_SVC_NEW);
	svc_stat(svc->id, false, skb->len, true);
	return CONTINUE;
}

/*
 * A reply to an external client (node port, ExternalIP, LB IP) leaves by the
 * uplink directly: its source is now the node's own address, which the
 * stack would take for a martian if the packet went through it.
 */
static __always_inline int reply_to_uplink(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct kx_config *c = bpf_map_lookup_elem(&kx_config, &zero);

	if (!c || !c->uplink_ifindex)
		return drop(skb, KX_STAT_DROP_NO_ROUTE);
	return bpf_redirect_neigh(c->uplink_ifindex, NULL, 0, 0);
}

/* Conntrack hit: DNAT a forward packet, restore the VIP on a reply. */
static __always_inline int ct_apply(struct __sk_buff *skb, struct pkt *p, struct kx_ct_val *ct)
{
	bool reply = ct->dir == KX_CT_REPLY;
	__be32 addr = ct->nat_addr;
	__be16 port = ct->nat_port;
	bool external = ct->flags & KX_CT_F_EXTERNAL;

	ct_touch(ct, p);
	if (nat_rewrite(skb, p, reply, addr, port))
		return drop(skb, KX_STAT_DROP_REWRITE);
	/* hairpin: the other end too (forward: source to the VIP; reply: back to the pod) */
	if ((ct->flags & KX_CT_F_SNAT) &&
	    nat_rewrite(skb, p, !reply, ct->nat2_addr, ct->nat2_port))
		return drop(skb, KX_STAT_DROP_REWRITE);
	stat_count(skb, reply ? KX_STAT_REVNAT : KX_STAT_SVC_ESTABLISHED);
	svc_stat(ct->svc_id, reply, skb->len, false);
	if (reply && external)
		return reply_to_uplink(skb);
	return CONTINUE;
}

/* Service and conntrack handling of a TCP/UDP packet; CONTINUE to deliver it. */
static __always_inline int pod_nat(struct __sk_buff *skb, struct pkt *p)
{
	struct kx_ct_val *ct = ct_lookup(p);
	struct kx_svc_val *svc;

	if (ct && (ct->flags & KX_CT_F_STACK)) { /* a hostPort's reply: netfilter undoes its NAT */
		ct_touch(ct, p);
		stat_count(skb, KX_STAT_STACK_REPLY);
		return TC_ACT_OK;
	}
	if (ct && ct->dir == KX_CT_REPLY && !ct_reply_stale(ct, p))
		return ct_apply(skb, p, ct);
	if (ct && ct->dir == KX_CT_FORWARD && !ct_stale_for_syn(ct, p))
		return ct_apply(skb, p, ct);
	/* To a pod of this node (an inlined array lookup): no service has a
	 * pod's address, so skip the service hash (~40 ns). */
	if (endpoint_lookup(p->daddr))
		return CONTINUE;
	/* A ClusterIP; or an external address of a Service (ExternalIP, LB IP, a
	 * node port of this node), served from inside as kube-proxy does. */
	svc = svc_lookup_addr(p, KX_SCOPE_INTERNAL);
	if (svc)
		return service_new_flow(skb, p, svc);
	/* As kube-proxy (nftables): a ClusterIP no Service holds is refused. */
	if (in_service_cidr(p->daddr))
		return reject(skb, p, KX_STAT_REJECT_NO_SERVICE);
	/* A ClusterIP on a port its Service lacks, likewise. Asked of connection
	 * attempts only (a TCP SYN, any UDP datagram), so established traffic to
	 * other destinations pays nothing for it. */
	if ((p->proto == IPPROTO_UDP || (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) &&
	    is_known_vip(p->daddr))
		return reject(skb, p, KX_STAT_REJECT_NO_PORT);
	return CONTINUE;
}

/* Everything a pod sends enters here (TC ingress of its host-side veth). */
SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	__be16 proto = parse_eth_proto(skb);
	struct pkt p;
	int ret;

	if (proto == bpf_htons(ETH_P_ARP))
		return arp_answer(skb);
	if (proto != bpf_htons(ETH_P_IP))
		goto pass;
	if (parse_ipv4(skb, &p)) {
		stat_count(skb, KX_STAT_MALFORMED);
		return TC_ACT_OK;
	}
	if (!source_is_pod(skb, p.saddr))
		return drop(skb, KX_STAT_DROP_SPOOFED);
	if (p.proto == IPPROTO_ICMP && is_icmp_echo(skb, &p) && is_known_vip(p.daddr))
		return echo_reply(skb, &p);
	/* A fragment carries no ports (or only the first does): it cannot be
	 * matched to a backend, so to a ClusterIP it is dropped and counted,
	 * never sent to a wrong one. Pods send TCP with DF; this is rare UDP. */
	if (p.frag && is_known_vip(p.daddr))
		return drop(skb, KX_STAT_DROP_FRAGMENT);
	/* an ICMP error a backend pod sends about a service flow */
	if (p.proto == IPPROTO_ICMP && revnat_icmp_error(skb, &p))
		return drop(skb, KX_STAT_DROP_REWRITE);
	if (p.has_ports) {
		ret = pod_nat(skb, &p);
		if (ret != CONTINUE)
			return ret;
	}
	return deliver(skb, p.daddr);
pass:
	stat_count(skb, KX_STAT_PASS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
