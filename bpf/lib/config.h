/* SPDX-License-Identifier: GPL-2.0 */
/* The node-wide settings the agent writes (kx_config) and the questions they answer. */
#ifndef KX_BPF_CONFIG_H
#define KX_BPF_CONFIG_H

#include "maps.h"

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

/* Is daddr inside the Service CIDR (and so, if no service has it, unallocated)? */
static __always_inline bool in_service_cidr(__be32 daddr)
{
	struct kx_config *c = config_get();

	return c && c->svc_mask && (daddr & c->svc_mask) == c->svc_cidr;
}

#endif /* KX_BPF_CONFIG_H */
