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
#include "stats.h"

/*
 * Idle time is kept in jiffies: bpf_jiffies64() is inlined by the verifier (a
 * load), where bpf_ktime_get_ns() is a helper call reading the clocksource
 * (~45 ns here). last_seen is refreshed at most every CT_TOUCH_JIFFIES
 * (0.064 s at HZ=1000, 0.64 s at HZ=100), plenty for idle timeouts of seconds.
 */
#define CT_TOUCH_JIFFIES 64

#define KX_EEXIST 17

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
 * p went from a pod of this node through the node's stack into another pod
 * (tc_to_pod): the stack NATed it (a hostPort), so its replies must go back
 * through the stack (KX_CT_F_STACK on the reply's entry) for netfilter to
 * undo the NAT. The entry is made by a connection's first packet (a SYN, a
 * UDP datagram) and kept fresh by the rest.
 */
static __always_inline void ct_note_stack_flow(const struct pkt *p)
{
	struct kx_ct_key k = {
		.saddr = p->daddr,
		.daddr = p->saddr,
		.sport = p->dport,
		.dport = p->sport,
		.proto = p->proto,
	};
	struct kx_ct_val v = {
		.nat_addr = p->daddr,
		.nat_port = p->dport,
		.dir = KX_CT_REPLY,
		.flags = KX_CT_F_STACK,
		.last_seen = bpf_jiffies64(),
	};
	bool syn = (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	struct kx_ct_val *old = bpf_map_lookup_elem(&kx_ct, &k);

	if (old && (old->flags & KX_CT_F_STACK) && !(syn && (old->flags & KX_CT_F_CLOSING))) {
		if (v.last_seen - old->last_seen > CT_TOUCH_JIFFIES)
			old->last_seen = v.last_seen;
		if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			old->flags |= KX_CT_F_CLOSING;
		return;
	}
	if (old && !(old->flags & KX_CT_F_STACK))
		return; /* a service flow's reply entry: tc_from_pod translates it */
	if (p->proto == IPPROTO_UDP || syn)
		ct_put(&k, &v, BPF_ANY);
}

/*
 * Record a new flow from client p to service (vip, vport) served by backend
 * b: the forward entry (client tuple -> backend) and the reply entry
 * (backend tuple -> VIP). Returns 0 or a negative map error.
 */
static __always_inline int ct_create_flags(const struct pkt *p, __u32 svc_id, __u32 backend_id,
					   const struct kx_backend *b, __u8 flags)
{
	struct kx_ct_key k;
	struct kx_ct_val v = {
		.dir = KX_CT_FORWARD,
		.flags = flags,
		.svc_id = svc_id,
		.backend_id = backend_id,
		.last_seen = bpf_jiffies64(),
	};
	int err;

	ct_key_of(p, &k);
	v.nat_addr = b->addr;
	v.nat_port = b->port;
	err = ct_put(&k, &v, BPF_ANY);
	if (err)
		return err;

	k.saddr = b->addr;
	k.sport = b->port;
	k.daddr = p->saddr;
	k.dport = p->sport;
	v.dir = KX_CT_REPLY;
	v.nat_addr = p->daddr;
	v.nat_port = p->dport;
	return ct_put(&k, &v, BPF_ANY);
}

static __always_inline int ct_create(const struct pkt *p, __u32 svc_id, __u32 backend_id,
				     const struct kx_backend *b)
{
	return ct_create_flags(p, svc_id, backend_id, b, 0);
}

/*
 * Record a new flow from client p to (vip, vport) = (p->daddr, p->dport)
 * served by backend b, its source rewritten to snat_addr:snat_port. The
 * reply entry {b -> snat} is inserted first, only where no flow holds that
 * tuple (BPF_NOEXIST), then the forward entry. Returns 0, or -1 when the
 * tuple is taken or a map is full (nothing left behind).
 */
static __always_inline int ct_create_nat2(const struct pkt *p, __u32 svc_id, __u32 backend_id,
					  const struct kx_backend *b, __be32 snat_addr,
					  __be16 snat_port, __u8 flags)
{
	struct kx_ct_val v = {
		.dir = KX_CT_REPLY,
		.flags = flags | KX_CT_F_SNAT,
		.svc_id = svc_id,
		.backend_id = backend_id,
		.last_seen = bpf_jiffies64(),
		.nat_addr = p->daddr,
		.nat_port = p->dport,
		.nat2_addr = p->saddr,
		.nat2_port = p->sport,
	};
	struct kx_ct_key rk = {
		.saddr = b->addr,
		.daddr = snat_addr,
		.sport = b->port,
		.dport = snat_port,
		.proto = p->proto,
	};
	struct kx_ct_key fk;

	if (ct_put(&rk, &v, BPF_NOEXIST))
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
	return 0;
}

/*
 * A node-port flow to a backend on another node: SNAT to the node with a
 * free port of [KX_SNAT_PORT_MIN, KX_SNAT_PORT_MAX], so two flows never share
 * a tuple towards one backend. Returns the port (network order) or 0.
 */
#define SNAT_PORT_TRIES 8

static __always_inline __be16 ct_create_snat(const struct pkt *p, __u32 svc_id, __u32 backend_id,
					     const struct kx_backend *b, __be32 snat_addr)
{
	for (int i = 0; i < SNAT_PORT_TRIES; i++) {
		__be16 port = bpf_htons(KX_SNAT_PORT_MIN +
					bpf_get_prandom_u32() %
						(KX_SNAT_PORT_MAX - KX_SNAT_PORT_MIN + 1));

		if (!ct_create_nat2(p, svc_id, backend_id, b, snat_addr, port, KX_CT_F_EXTERNAL))
			return port;
	}
	return 0;
}

#endif /* KX_BPF_CT_H */
