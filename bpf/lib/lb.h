/* SPDX-License-Identifier: GPL-2.0 */
/* Service lookup and backend selection. */
#ifndef KX_BPF_LB_H
#define KX_BPF_LB_H

#include "config.h"
#include "maps.h"
#include "parse.h"

static __always_inline struct kx_svc_val *svc_lookup(const struct pkt *p, __u8 scope)
{
	struct kx_svc_key k = {
		.vip = p->daddr.v4,
		.port = p->dport,
		.proto = p->l4_proto,
		.scope = scope,
	};

	return bpf_map_lookup_elem(&kx_svc, &k);
}

/* Is addr a ClusterIP (a KX_SVC_F_VIP marker entry holds it)? */
static __always_inline bool is_known_vip(__be32 addr)
{
	struct kx_svc_key k = { .vip = addr, .scope = KX_SCOPE_INTERNAL };

	return addr && bpf_map_lookup_elem(&kx_svc, &k) != NULL;
}

/*
 * The entry of scope for p: its exact address (a ClusterIP; an ExternalIP or
 * LB IP), else, to an address of this node, a node port.
 */
static __always_inline struct kx_svc_val *svc_lookup_addr(const struct pkt *p, __u8 scope)
{
	struct kx_svc_val *svc = svc_lookup(p, scope);
	struct kx_config *c;
	struct kx_svc_key k = {
		.vip = KX_VIP_NODEPORT,
		.port = p->dport,
		.proto = p->l4_proto,
		.scope = scope,
	};

	if (svc)
		return svc;
	c = config_get();
	if (!c || !is_node_addr(c, p->daddr.v4))
		return NULL;
	return bpf_map_lookup_elem(&kx_svc, &k);
}

/* loadBalancerSourceRanges: does a prefix of entry svc_id hold saddr? */
static __always_inline bool src_allowed(__u32 svc_id, __be32 saddr)
{
	struct kx_srcrange_key k = {
		.prefixlen = 64,
		.svc_id = bpf_htonl(svc_id),
		.addr = saddr,
	};

	return bpf_map_lookup_elem(&kx_srcrange, &k) != NULL;
}

/* A 32-bit mix (murmur3's finalizer): spreads client addresses over the slots. */
static __always_inline __u32 lb_mix(__u32 x)
{
	x ^= x >> 16;
	x *= 0x85ebca6b;
	x ^= x >> 13;
	x *= 0xc2b2ae35;
	x ^= x >> 16;
	return x;
}

/*
 * The slot (0..count-1) for a new flow from p, by the service's algorithm:
 * rr, one atomic counter per service shared by every CPU, strict as IPVS's;
 * sh and mh, a hash of the client's address (and port with
 * KX_SVC_F_HASH_PORT), so a client keeps its backend while the set does not
 * change (mh's slots are a Maglev table, so a change moves few clients);
 * random. -1 when the counter is missing.
 */
static __always_inline int lb_slot(const struct kx_svc_val *svc, const struct pkt *p)
{
	__u32 svc_id = svc->id, h;
	__u64 *pos;

	switch (svc->algo) {
	case KX_ALGO_SH:
	case KX_ALGO_MH:
		h = bpf_ntohl(p->saddr.v4);
		if (svc->flags & KX_SVC_F_HASH_PORT)
			h ^= lb_mix(bpf_ntohs(p->sport) + 0x9e3779b9);
		return (int)(lb_mix(h) % svc->count);
	case KX_ALGO_RANDOM:
		return (int)(bpf_get_prandom_u32() % svc->count);
	default:
		pos = bpf_map_lookup_elem(&kx_rr, &svc_id);
		if (!pos)
			return -1;
		return (int)(__sync_fetch_and_add(pos, 1) % svc->count);
	}
}

/*
 * The backend for a new flow from p and its id, or NULL when a slot or
 * backend is missing (the agent is mid-update or the maps are damaged).
 */
static __always_inline struct kx_backend *lb_select(const struct kx_svc_val *svc,
						    const struct pkt *p, __u32 *backend_id)
{
	struct kx_slot_key sk = { .svc_id = svc->id };
	int slot;
	__u32 *id;

	if (svc->count == 0)
		return NULL;
	slot = lb_slot(svc, p);
	if (slot < 0)
		return NULL;
	sk.slot = kx_slot_base(svc->flags) + (__u32)slot;
	id = bpf_map_lookup_elem(&kx_slots, &sk);
	if (!id)
		return NULL;
	*backend_id = *id;
	return bpf_map_lookup_elem(&kx_backends, id);
}

/*
 * May the pair a say where client p's new connection to svc goes? Within the
 * timeout, its backend still in the entry's set (kx_members) and still the
 * backend it was (ids are reused: same address; 0 from an older agent).
 */
static __always_inline struct kx_backend *affinity_backend(const struct kx_svc_val *svc,
							   const struct kx_affinity_val *a,
							   __u64 now)
{
	struct kx_member_key mk = { .svc_id = svc->id, .backend_id = a->backend_id };
	struct kx_backend *b;

	if (now - a->last_ns >= (__u64)svc->affinity_timeout_s * 1000000000ULL)
		return NULL;
	if (!bpf_map_lookup_elem(&kx_members, &mk))
		return NULL;
	b = bpf_map_lookup_elem(&kx_backends, &mk.backend_id);
	if (!b || (a->backend_addr && b->addr != a->backend_addr))
		return NULL;
	return b;
}

/*
 * The backend for a new flow from p, honouring ClientIP session affinity: a
 * client that opened a connection to this entry within its timeout goes to
 * the same backend while it is in the set; otherwise the scheduler picks and
 * the pair is recorded.
 */
static __always_inline struct kx_backend *lb_pick(const struct kx_svc_val *svc,
						  const struct pkt *p, __u32 *backend_id)
{
	struct kx_affinity_key ak = { .svc_id = svc->id, .client = p->saddr.v4 };
	struct kx_affinity_val av = {}, *a;
	struct kx_backend *b;
	__u64 now;

	if (!svc->affinity_timeout_s)
		return lb_select(svc, p, backend_id);
	now = bpf_ktime_get_ns();
	a = bpf_map_lookup_elem(&kx_affinity, &ak);
	if (a && (b = affinity_backend(svc, a, now))) {
		a->last_ns = now;
		*backend_id = a->backend_id;
		return b;
	}
	b = lb_select(svc, p, backend_id);
	if (b) {
		av.backend_id = *backend_id;
		av.backend_addr = b->addr;
		av.last_ns = now;
		bpf_map_update_elem(&kx_affinity, &ak, &av, BPF_ANY);
	}
	return b;
}

#endif /* KX_BPF_LB_H */
