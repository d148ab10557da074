/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NetworkPolicy: the verdict on a flow's first packet. A pod of this node
 * has a policy set per direction (kx_pol_ep, 0 = not isolated); a set admits
 * a peer prefix for a bitmask of rows (kx_pol_peer, the longest prefix
 * answers), and each row a protocol and port range (kx_pol_rows). Judged
 * after service DNAT: the peer of egress is the backend, the port the
 * backend's. An allowed flow gets conntrack entries (KX_CT_F_POLICY when no
 * service NATs it) whenever either end is isolated, so its later packets and
 * its replies pass unjudged, whatever the other end's policy (a reply entry
 * only where the replies would otherwise be judged). ICMP is not
 * judged (as kube-router: echo and errors pass), nor are later fragments
 * (they carry no ports, and without their first one nothing reassembles).
 */
#ifndef KX_BPF_POLICY_H
#define KX_BPF_POLICY_H

#include "config.h"
#include "ct.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

/* May NetworkPolicy isolate any pod of this node (KX_CFG_F_POLICY)? One load of a hot line. */
static __always_inline bool policy_active(void)
{
	struct kx_config *c = config_get();

	return c && (c->flags & KX_CFG_F_POLICY);
}

/* The policy sets of local pod addr, or NULL when no policy selects it either way. */
static __always_inline const struct kx_pol_ep *policy_ep(__be32 addr)
{
	__u32 slot = kx_endpoint_slot(addr);
	struct kx_pol_ep *e = bpf_map_lookup_elem(&kx_pol_ep, &slot);

	if (!e || e->addr != addr || !addr || !(e->set[0] | e->set[1]))
		return NULL;
	return e;
}

/* Does row i of set admit proto/port (host order)? */
static __always_inline bool policy_row_admits(__u32 set, __u32 i, __u8 proto, __u16 port)
{
	__u32 idx = set * KX_POL_SET_ROWS + i;
	struct kx_pol_row_val *r = bpf_map_lookup_elem(&kx_pol_rows, &idx);

	return r && (!r->proto || r->proto == proto) && port >= r->port_lo && port <= r->port_hi;
}

/* Does policy set admit a flow with peer (network order) to port (network order) over proto? */
static __always_inline bool policy_allows(__u32 set, __be32 peer, __u8 proto, __be16 port)
{
	struct kx_pol_peer_key k = { .prefixlen = 64, .set = bpf_htonl(set), .addr = peer };
	__u16 hport = bpf_ntohs(port);
	__u64 *v, rows;

	if (set >= KX_POL_MAX_SETS)
		return false;
	v = bpf_map_lookup_elem(&kx_pol_peer, &k);
	if (!v)
		return false;
	rows = *v;
	for (__u32 i = 0; i < KX_POL_SET_ROWS && rows; i++, rows >>= 1)
		if ((rows & 1) && policy_row_admits(set, i, proto, hport))
			return true;
	return false;
}

/* Count a first packet set judged (kxdp policy list, metrics per policy). */
static __always_inline void policy_count(__u32 set, bool allowed)
{
	struct kx_pol_counter *c = bpf_map_lookup_elem(&kx_pol_stats, &set);

	if (!c)
		return;
	if (allowed)
		__sync_fetch_and_add(&c->allowed, 1);
	else
		__sync_fetch_and_add(&c->denied, 1);
}

/* Set's verdict on peer, counted per set. */
static __always_inline bool policy_judge(__u32 set, __be32 peer, __u8 proto, __be16 port)
{
	bool ok = policy_allows(set, peer, proto, port);

	policy_count(set, ok);
	return ok;
}

/* Is p a packet policy judges? ICMP and later fragments are not (see the top). */
static __always_inline bool policy_judges(const struct pkt *p)
{
	return p->l4_proto != IPPROTO_ICMP && p->frag != PKT_FRAG_LATER;
}

/*
 * The verdict on a new flow from saddr to daddr:dport (after DNAT) over
 * proto: the source pod's egress (src, when it is a pod of this node with
 * policy) and the destination pod's ingress (dst, likewise). 0 when
 * allowed, else the drop reason.
 */
static __always_inline __u32 policy_verdict(const struct kx_pol_ep *src, const struct kx_pol_ep *dst,
					    __be32 saddr, __be32 daddr, __be16 dport, __u8 proto)
{
	__u32 egress = src ? src->set[KX_POL_DIR_EGRESS] : 0;
	__u32 ingress = dst ? dst->set[KX_POL_DIR_INGRESS] : 0;

	if (egress && !policy_judge(egress, daddr, proto, dport))
		return KX_STAT_DROP_POLICY_EGRESS;
	if (ingress && !policy_judge(ingress, saddr, proto, dport))
		return KX_STAT_DROP_POLICY_INGRESS;
	if (egress || ingress)
		stat_add(KX_STAT_POLICY_ALLOWED, 0);
	return 0;
}

/*
 * The entries of an allowed flow no service NATs. The forward one always:
 * the flow's later packets pass on it. The reply's only when a policy
 * would judge the replies (the destination isolated for egress, or the
 * source for ingress): one insert, not two, for most first packets. It goes
 * in only where no other flow's entry holds its tuple (a service flow's or
 * a hostPort's reply there already lets the replies pass; a closed policy
 * flow's is written over). Each names the other end as its "NAT", so
 * kx_ct_twin_key pairs them for the agent's GC. A full table only costs the
 * flow its shortcut: its next packet is judged again.
 */
static __always_inline void policy_ct_create(const struct pkt *p, bool reply)
{
	struct kx_ct_val *old;
	struct kx_ct_val v = {
		.dir = KX_CT_REPLY,
		.flags = KX_CT_F_POLICY,
		.last_seen = bpf_jiffies64(),
		.nat_addr = p->daddr.v4,
		.nat_port = p->dport,
	};
	struct kx_ct_key k;

	ct_key_reversed(p, &k);
	if (reply && ct_put(&k, &v, BPF_NOEXIST)) {
		old = bpf_map_lookup_elem(&kx_ct, &k);
		if (old && (old->flags & KX_CT_F_POLICY) && (old->flags & KX_CT_F_CLOSING))
			*old = v; /* this tuple's earlier flow, closed */
	}
	ct_key_of(p, &k);
	v.dir = KX_CT_FORWARD;
	ct_put(&k, &v, BPF_ANY);
}

/*
 * Judge the first packet here of a flow no service NATs (no conntrack entry
 * let it through), from src to dst (each a policy_ep() or NULL). What no
 * set judges this way passes; a TCP packet of that kind that opens nothing
 * (a reply, a flow older than its pod's isolation) leaves no entry either:
 * nothing will judge its flow's later packets this way. 0 to go on, else
 * the drop reason.
 */
static __always_inline __u32 policy_new_flow(const struct pkt *p, const struct kx_pol_ep *src,
					     const struct kx_pol_ep *dst)
{
	bool judged = (src && src->set[KX_POL_DIR_EGRESS]) || (dst && dst->set[KX_POL_DIR_INGRESS]);
	bool reply = (src && src->set[KX_POL_DIR_INGRESS]) || (dst && dst->set[KX_POL_DIR_EGRESS]);
	__u32 why;

	if ((!src && !dst) || !policy_judges(p))
		return 0;
	if (judged) {
		why = policy_verdict(src, dst, p->saddr.v4, p->daddr.v4, p->dport, p->l4_proto);
		if (why)
			return why;
	} else if (p->l4_proto == IPPROTO_TCP && !pkt_is_syn(p)) {
		return 0;
	}
	if (p->has_ports)
		policy_ct_create(p, reply);
	return 0;
}

#endif /* KX_BPF_POLICY_H */
