/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack: one entry per direction, keyed by the tuple the packet carries on
 * arrival, so a single lookup tells a forward packet (DNAT) from a reply
 * (reverse NAT).
 */
#ifndef KX_BPF_CT_H
#define KX_BPF_CT_H

#include "lb.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

/*
 * Idle time is kept in jiffies: bpf_jiffies64() is inlined by the verifier (a
 * load), where bpf_ktime_get_ns() is a helper call reading the clocksource
 * (~45 ns here). last_seen is refreshed at most every CT_TOUCH_JIFFIES
 * (0.064 s at HZ=1000, 0.64 s at HZ=100), plenty for idle timeouts of seconds.
 */
#define CT_TOUCH_JIFFIES 64

/*
 * Every write and delete of kx_ct goes through ct_put/ct_del, which count
 * entries created and deleted: the LRU evicts without telling, and the agent
 * derives evictions from these counts and the entries left.
 */
static __always_inline int ct_put(const struct kx_ct_key *k, const struct kx_ct_val *v,
				  __u64 flags)
{
	int err = bpf_map_update_elem(&kx_ct, k, v, BPF_NOEXIST);

	if (!err) {
		stat_add(KX_STAT_CT_CREATED, 0);
		return 0;
	}
	if (flags == BPF_NOEXIST || err != -KX_EEXIST)
		return err;
	return bpf_map_update_elem(&kx_ct, k, v, BPF_ANY); /* a reused tuple: no new entry */
}

static __always_inline void ct_del(const struct kx_ct_key *k)
{
	if (!bpf_map_delete_elem(&kx_ct, k))
		stat_add(KX_STAT_CT_DELETED, 0);
}

static __always_inline void ct_key_of(const struct pkt *p, struct kx_ct_key *k)
{
	k->saddr = p->saddr.v4;
	k->daddr = p->daddr.v4;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->l4_proto;
	k->pad[0] = 0;
	k->pad[1] = 0;
	k->pad[2] = 0;
}

/* The key of p's reply: its tuple the other way round. */
static __always_inline void ct_key_reversed(const struct pkt *p, struct kx_ct_key *k)
{
	ct_key_of(p, k);
	k->saddr = p->daddr.v4;
	k->daddr = p->saddr.v4;
	k->sport = p->dport;
	k->dport = p->sport;
}

static __always_inline struct kx_ct_val *ct_lookup(const struct pkt *p)
{
	struct kx_ct_key k;

	ct_key_of(p, &k);
	return bpf_map_lookup_elem(&kx_ct, &k);
}

/*
 * Note activity on a hit: idle time for GC, and FIN/RST in either direction
 * marks both entries closing, so a later SYN reusing the tuple is a new
 * connection and load-balanced afresh.
 */
static __always_inline void ct_touch(struct kx_ct_val *v, const struct pkt *p)
{
	__u64 now = bpf_jiffies64();
	struct kx_ct_key self, k;
	struct kx_ct_val *twin;

	if (now - v->last_seen > CT_TOUCH_JIFFIES)
		v->last_seen = now;
	if (!(p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) || (v->flags & KX_CT_F_CLOSING))
		return;
	v->flags |= KX_CT_F_CLOSING;
	ct_key_of(p, &self);
	kx_ct_twin_key(&self, v, &k);
	twin = bpf_map_lookup_elem(&kx_ct, &k);
	if (twin)
		twin->flags |= KX_CT_F_CLOSING;
}

/* Is p a TCP SYN without ACK: a connection's first packet? */
static __always_inline bool pkt_is_syn(const struct pkt *p)
{
	return (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
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
	ct_del(&k);
	return true;
}

/*
 * A new SYN on a forward entry of a closed connection (the client reuses its
 * port), or on one that no longer leads anywhere valid (its backend has gone
 * or changed, or the service entry of scope that p reaches is gone or is
 * another one now), is a new connection: load-balance it. A retransmitted
 * SYN of a live attempt keeps its backend.
 */
static __always_inline bool ct_forward_stale(const struct kx_ct_val *ct, const struct pkt *p,
					     __u8 scope)
{
	struct kx_svc_val *svc;
	struct kx_backend *b;
	__u32 id = ct->backend_id;

	if (!pkt_is_syn(p))
		return false;
	if (ct->flags & KX_CT_F_CLOSING)
		return true;
	if (ct->flags & KX_CT_F_POLICY) /* an open flow's SYN again: a retransmission */
		return false;
	b = bpf_map_lookup_elem(&kx_backends, &id);
	if (!b || b->addr != ct->nat_addr || b->port != ct->nat_port)
		return true;
	svc = svc_lookup_addr(p, scope);
	return !svc || svc->id != ct->svc_id;
}

/*
 * The one stale rule of every hook: is hit ct of p's packet no longer to be
 * applied? p reaches service entries of scope where the hook runs (internal
 * from pods, external on the uplink).
 */
static __always_inline bool ct_stale(const struct kx_ct_val *ct, const struct pkt *p, __u8 scope)
{
	if (ct->dir == KX_CT_REPLY)
		return ct_reply_stale(ct, p);
	return ct_forward_stale(ct, p, scope);
}

/*
 * p went from a pod of this node through the node's stack into another pod
 * (tc_to_pod): the stack NATed it (a hostPort), so its replies must go back
 * through the stack (KX_CT_F_STACK on the reply's entry) for netfilter to
 * undo the NAT. The entry is made by a connection's first packet (a SYN, a
 * UDP datagram), over policy's own (it lets the replies pass too), and kept
 * fresh by the rest.
 */
static __always_inline void ct_note_stack_flow(const struct pkt *p)
{
	struct kx_ct_key k;
	struct kx_ct_val v = {
		.nat_addr = p->daddr.v4,
		.nat_port = p->dport,
		.dir = KX_CT_REPLY,
		.flags = KX_CT_F_STACK,
		.last_seen = bpf_jiffies64(),
	};
	bool syn = pkt_is_syn(p);
	struct kx_ct_val *old;

	ct_key_reversed(p, &k);
	old = bpf_map_lookup_elem(&kx_ct, &k);

	if (old && (old->flags & KX_CT_F_STACK) && !(syn && (old->flags & KX_CT_F_CLOSING))) {
		if (v.last_seen - old->last_seen > CT_TOUCH_JIFFIES)
			old->last_seen = v.last_seen;
		if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			old->flags |= KX_CT_F_CLOSING;
		return;
	}
	if (old && !(old->flags & (KX_CT_F_STACK | KX_CT_F_POLICY)))
		return; /* a service flow's reply entry: tc_from_pod translates it */
	if (p->l4_proto == IPPROTO_UDP || syn)
		ct_put(&k, &v, BPF_ANY);
}

/* The key of the reply entry of a flow from p DNATed to backend b (source kept). */
static __always_inline void ct_reply_key(const struct pkt *p, const struct kx_backend *b,
					 struct kx_ct_key *k)
{
	ct_key_of(p, k);
	k->saddr = b->addr;
	k->sport = b->port;
	k->daddr = p->saddr.v4;
	k->dport = p->sport;
}

/*
 * Is entry old, found at the reply key of a new flow from p (DNAT only, the
 * source kept), that flow made again? A reply entry of the same VIP:port is
 * (a SYN reusing a closed tuple, a UDP flow whose forward entry went); one
 * of another VIP belongs to another flow, closing or not: netfilter, too,
 * counts a closing flow's tuple as taken until it expires.
 */
static __always_inline bool ct_same_flow(const struct kx_ct_val *old, const struct pkt *p)
{
	return old->dir == KX_CT_REPLY && !(old->flags & (KX_CT_F_SNAT | KX_CT_F_STACK)) &&
	       old->nat_addr == p->daddr.v4 && old->nat_port == p->dport;
}

/* The same for a reply entry of a flow from p SNATed to its nat2 (snat2: p's own end). */
static __always_inline bool ct_same_flow_nat2(const struct kx_ct_val *old, const struct pkt *p)
{
	return old->dir == KX_CT_REPLY && (old->flags & KX_CT_F_SNAT) &&
	       old->nat_addr == p->daddr.v4 && old->nat_port == p->dport &&
	       old->nat2_addr == p->saddr.v4 && old->nat2_port == p->sport;
}

/*
 * Insert reply entry (k, v) of a new flow from p where no other flow holds
 * k: BPF_NOEXIST first (the common case costs one update), and only when k
 * is taken the entry there is asked whether it is this flow made again
 * (same, by the flow's kind), which may be written over. 0, or -1.
 */
static __always_inline int ct_put_reply(const struct kx_ct_key *k, const struct kx_ct_val *v,
					const struct pkt *p, bool nat2)
{
	int err = bpf_map_update_elem(&kx_ct, k, v, BPF_NOEXIST);
	struct kx_ct_val *old;

	if (!err) {
		stat_add(KX_STAT_CT_CREATED, 0);
		return 0;
	}
	if (err != -KX_EEXIST)
		return -1;
	old = bpf_map_lookup_elem(&kx_ct, k);
	if (old && !(nat2 ? ct_same_flow_nat2(old, p) : ct_same_flow(old, p)))
		return -1;
	return bpf_map_update_elem(&kx_ct, k, v, BPF_ANY) ? -1 : 0;
}

/*
 * Record a new flow from client p to (vip, vport) = (p->daddr, p->dport)
 * served by backend b, its source rewritten to snat_addr:snat_port. The
 * reply entry {b -> snat} is inserted first, only where no flow holds that
 * tuple (BPF_NOEXIST), then the forward entry, which *fwd receives. Returns
 * 0, or -1 when the tuple is taken or a map is full (nothing left behind).
 */
static __always_inline int ct_create_nat2(const struct pkt *p, __u32 svc_id, __u32 backend_id,
					  const struct kx_backend *b, __be32 snat_addr,
					  __be16 snat_port, __u8 flags, struct kx_ct_val *fwd)
{
	struct kx_ct_val v = {
		.dir = KX_CT_REPLY,
		.flags = flags | KX_CT_F_SNAT,
		.svc_id = svc_id,
		.backend_id = backend_id,
		.last_seen = bpf_jiffies64(),
		.nat_addr = p->daddr.v4,
		.nat_port = p->dport,
		.nat2_addr = p->saddr.v4,
		.nat2_port = p->sport,
	};
	struct kx_ct_key rk = {
		.saddr = b->addr,
		.daddr = snat_addr,
		.sport = b->port,
		.dport = snat_port,
		.proto = p->l4_proto,
	};
	struct kx_ct_key fk;

	if (ct_put_reply(&rk, &v, p, true))
		return -1;
	ct_key_of(p, &fk);
	v.dir = KX_CT_FORWARD;
	v.nat_addr = b->addr;
	v.nat_port = b->port;
	v.nat2_addr = snat_addr;
	v.nat2_port = snat_port;
	if (ct_put(&fk, &v, BPF_ANY)) {
		ct_del(&rk);
		return -1;
	}
	*fwd = v;
	return 0;
}

/*
 * ct_create_nat2() with the source address snat_addr and a free port of
 * [KX_SNAT_PORT_MIN, KX_SNAT_PORT_MAX], so two flows never share a tuple
 * towards one backend. Returns 0, or -1 when no port was free.
 */
#define SNAT_PORT_TRIES 8

static __always_inline int ct_create_snat(const struct pkt *p, __u32 svc_id, __u32 backend_id,
					  const struct kx_backend *b, __be32 snat_addr,
					  __u8 flags, struct kx_ct_val *fwd)
{
	for (int i = 0; i < SNAT_PORT_TRIES; i++) {
		__be16 port = bpf_htons(KX_SNAT_PORT_MIN +
					bpf_get_prandom_u32() %
						(KX_SNAT_PORT_MAX - KX_SNAT_PORT_MIN + 1));

		if (!ct_create_nat2(p, svc_id, backend_id, b, snat_addr, port, flags, fwd))
			return 0;
	}
	return -1;
}

/*
 * Record a new flow from client p to service (vip, vport) served by backend
 * b, DNAT only: the reply entry (backend tuple -> VIP), then the forward
 * entry (client tuple -> backend), which *fwd receives. When another live
 * flow holds the reply tuple (one client socket asking two Services that
 * share a backend: kube-dns and a second DNS Service on the same pods), the
 * new flow's source port is changed instead, as netfilter resolves a clash,
 * and the other flow's entries stay as they are. Returns 0 or -1 (a map
 * full, nothing left behind).
 */
static __always_inline int ct_create(const struct pkt *p, __u32 svc_id, __u32 backend_id,
				     const struct kx_backend *b, __u8 flags, struct kx_ct_val *fwd)
{
	struct kx_ct_val v = {
		.dir = KX_CT_REPLY,
		.flags = flags,
		.svc_id = svc_id,
		.backend_id = backend_id,
		.last_seen = bpf_jiffies64(),
		.nat_addr = p->daddr.v4,
		.nat_port = p->dport,
	};
	struct kx_ct_key rk, fk;

	ct_reply_key(p, b, &rk);
	if (ct_put_reply(&rk, &v, p, false)) {
		if (ct_create_snat(p, svc_id, backend_id, b, p->saddr.v4, flags, fwd))
			return -1;
		stat_add(KX_STAT_CT_PORT_MOVED, 0);
		return 0;
	}
	ct_key_of(p, &fk);
	v.dir = KX_CT_FORWARD;
	v.nat_addr = b->addr;
	v.nat_port = b->port;
	if (ct_put(&fk, &v, BPF_ANY)) {
		ct_del(&rk);
		return -1;
	}
	*fwd = v;
	return 0;
}

#endif /* KX_BPF_CT_H */
