/* SPDX-License-Identifier: GPL-2.0 */
/* Service lookup and backend selection. */
#ifndef KX_BPF_LB_H
#define KX_BPF_LB_H

#include "maps.h"
#include "parse.h"

static __always_inline struct kx_svc_val *svc_lookup(const struct pkt *p, __u8 scope)
{
	struct kx_svc_key k = {
		.vip = p->daddr,
		.port = p->dport,
		.proto = p->proto,
		.scope = scope,
	};

	return bpf_map_lookup_elem(&kx_svc, &k);
}

static __always_inline struct kx_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&kx_config, &zero);
}

/* Is addr one of the addresses node ports answer on? (an inlined loop, no call) */
static __always_inline bool is_node_addr(const struct kx_config *c, __be32 addr)
{
#pragma unroll
	for (int i = 0; i < KX_NODE_ADDRS; i++)
		if (i < c->n_node_addrs && c->node_addrs[i] == addr)
			return true;
	return false;
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
		.proto = p->proto,
		.scope = scope,
	};

	if (svc)
		return svc;
	c = config_get();
	if (!c || !is_node_addr(c, p->daddr))
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

/* Is daddr inside the Service CIDR (and so, if no service has it, unallocated)? */
static __always_inline bool in_service_cidr(__be32 daddr)
{
	__u32 zero = 0;
	struct kx_config *c = bpf_map_lookup_elem(&kx_config, &zero);

	return c && c->svc_mask && (daddr & c->svc_mask) == c->svc_cidr;
}

/*
 * Strict round robin: one atomic counter per service shared by every CPU,
 * as IPVS's rr. Returns the chosen backend and its id, or NULL when a slot
 * or backend is missing (the agent is mid-update or the maps are damaged).
 */
static __always_inline struct kx_backend *lb_select(const struct kx_svc_val *svc,
						    __u32 *backend_id)
{
	struct kx_slot_key sk = { .svc_id = svc->id };
	__u32 svc_id = svc->id;
	__u64 *pos;
	__u32 *id;

	if (svc->count == 0)
		return NULL;
	pos = bpf_map_lookup_elem(&kx_rr, &svc_id);
	if (!pos)
		return NULL;
	sk.slot = kx_slot_base(svc->flags) + __sync_fetch_and_add(pos, 1) % svc->count;
	id = bpf_map_lookup_elem(&kx_slots, &sk);
	if (!id)
		return NULL;
	*backend_id = *id;
	return bpf_map_lookup_elem(&kx_backends, id);
}

#endif /* KX_BPF_LB_H */
