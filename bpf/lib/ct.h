/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack: one entry per direction, keyed by the tuple the packet carries on
 * arrival, so a single lookup tells a forward packet (DNAT) from a reply
 * (reverse NAT).
 */
#ifndef KX_BPF_CT_H
#define KX_BPF_CT_H

#include "maps.h"
#include "parse.h"

/*
 * Idle time is kept in jiffies: bpf_jiffies64() is inlined by the verifier (a
 * load), where bpf_ktime_get_ns() is a helper call reading the clocksource
 * (~45 ns here). last_seen is refreshed at most every CT_TOUCH_JIFFIES
 * (0.064 s at HZ=1000, 0.64 s at HZ=100), plenty for idle timeouts of seconds.
 */
#define CT_TOUCH_JIFFIES 64

static __always_inline void ct_key_of(const struct pkt *p, struct kx_ct_key *k)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->pad[0] = 0;
	k->pad[1] = 0;
	k->pad[2] = 0;
}

static __always_inline struct kx_ct_val *ct_lookup(const struct pkt *p)
{
	struct kx_ct_key k;

	ct_key_of(p, &k);
	return bpf_map_lookup_elem(&kx_ct, &k);
}

/* The key of the other direction's entry of the flow v belongs to. */
static __always_inline void ct_twin_key(const struct kx_ct_val *v, const struct pkt *p,
					struct kx_ct_key *k)
{
	ct_key_of(p, k);
	if (v->dir == KX_CT_FORWARD) { /* twin: backend -> client */
		k->saddr = v->nat_addr;
		k->sport = v->nat_port;
		k->daddr = p->saddr;
		k->dport = p->sport;
	} else { /* twin: client -> VIP */
		k->saddr = p->daddr;
		k->sport = p->dport;
		k->daddr = v->nat_addr;
		k->dport = v->nat_port;
	}
}

/*
 * Note activity on a hit: idle time for GC, and FIN/RST in either direction
 * marks both entries closing, so a later SYN reusing the tuple is a new
 * connection and load-balanced afresh.
 */
static __always_inline void ct_touch(struct kx_ct_val *v, const struct pkt *p)
{
	__u64 now = bpf_jiffies64();
	struct kx_ct_val *twin;
	struct kx_ct_key k;

	if (now - v->last_seen > CT_TOUCH_JIFFIES)
		v->last_seen = now;
	if (!(p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) || (v->flags & KX_CT_F_CLOSING))
		return;
	v->flags |= KX_CT_F_CLOSING;
	ct_twin_key(v, p, &k);
	twin = bpf_map_lookup_elem(&kx_ct, &k);
	if (twin)
		twin->flags |= KX_CT_F_CLOSING;
}

/*
 * A reply entry is stale when its flow has closed and the backend now
 * answers a new connection on the same tuple (SYN-ACK): that connection did
 * not come through the service (a direct one, reusing the client's port), so
 * its packets must keep their addresses. The stale entry goes.
 */
static __always_inline bool ct_reply_stale(const struct kx_ct_val *v, const struct pkt *p)
{
	struct kx_ct_key k;

	if (!(v->flags & KX_CT_F_CLOSING) ||
	    (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != (TCP_FLAG_SYN | TCP_FLAG_ACK))
		return false;
	ct_key_of(p, &k);
	bpf_map_delete_elem(&kx_ct, &k);
	return true;
}

/*
 * Record a new flow from client p to service (vip, vport) served by backend
 * b: the forward entry (client tuple -> backend) and the reply entry
 * (backend tuple -> VIP). Returns 0 or a negative map error.
 */
static __always_inline int ct_create(const struct pkt *p, __u32 svc_id, __u32 backend_id,
				     const struct kx_backend *b)
{
	struct kx_ct_key k;
	struct kx_ct_val v = {
		.dir = KX_CT_FORWARD,
		.svc_id = svc_id,
		.backend_id = backend_id,
		.last_seen = bpf_jiffies64(),
	};
	int err;

	ct_key_of(p, &k);
	v.nat_addr = b->addr;
	v.nat_port = b->port;
	err = bpf_map_update_elem(&kx_ct, &k, &v, BPF_ANY);
	if (err)
		return err;

	k.saddr = b->addr;
	k.sport = b->port;
	k.daddr = p->saddr;
	k.dport = p->sport;
	v.dir = KX_CT_REPLY;
	v.nat_addr = p->daddr;
	v.nat_port = p->dport;
	return bpf_map_update_elem(&kx_ct, &k, &v, BPF_ANY);
}

#endif /* KX_BPF_CT_H */
