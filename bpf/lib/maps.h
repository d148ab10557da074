/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The datapath maps. maps.bpf.c defines them (KX_DEFINE_MAPS); every other
 * BPF file sees them as extern, and the static linker joins them into one
 * object, so all programs share the same maps.
 */
#ifndef KX_BPF_MAPS_H
#define KX_BPF_MAPS_H

#include "common.h"

_Static_assert(KX_STAT_MAX <= KX_STAT_SLOTS, "kx_stats has no room for enum kx_stat");

#ifdef KX_DEFINE_MAPS
#define KX_MAP
#else
#define KX_MAP extern
#endif

/* Service lookup: (VIP, port, proto, scope) -> service id and backend count. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_MAX_SERVICES);
	__type(key, struct kx_svc_key);
	__type(value, struct kx_svc_val);
} kx_svc SEC(".maps");

/* Backend set of each service: (svc id, slot) -> backend id, written before the service entry. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_MAX_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kx_slot_key);
	__type(value, __u32);
} kx_slots SEC(".maps");

/* Backends: id -> address, port, state; shared by every service that uses them. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct kx_backend);
} kx_backends SEC(".maps");

/* Round-robin position of each service: one counter shared by all CPUs, so rr is strict. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} kx_rr SEC(".maps");

/* Conntrack: packet 5-tuple -> NAT to apply; LRU so a full table evicts the oldest flow. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KX_CT_SIZE);
	__type(key, struct kx_ct_key);
	__type(value, struct kx_ct_val);
} kx_ct SEC(".maps");

/* Pods wired on this node, by kx_endpoint_slot(IP): veth and MACs; kxdp-cni writes, anti-spoofing truth. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_ENDPOINT_SLOTS);
	__type(key, __u32);
	__type(value, struct kx_endpoint);
} kx_endpoints SEC(".maps");

/* The pod of this node whose address addr is, or NULL. */
static __always_inline struct kx_endpoint *endpoint_lookup(__be32 addr)
{
	__u32 slot = kx_endpoint_slot(addr);
	struct kx_endpoint *ep = bpf_map_lookup_elem(&kx_endpoints, &slot);

	return ep && addr && ep->addr == addr ? ep : NULL;
}

/* Per-CPU counters by enum kx_stat: what the datapath did and why it dropped. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KX_STAT_SLOTS);
	__type(key, __u32); /* enum kx_stat: an array's key must be a plain int (kernel BTF check) */
	__type(value, struct kx_counter);
} kx_stats SEC(".maps");

/* Node-wide settings the agent writes (Service CIDR): one entry, key 0. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kx_config);
} kx_config SEC(".maps");

/* loadBalancerSourceRanges: (service entry id, source prefix) -> allowed; longest prefix wins. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KX_MAX_SRCRANGES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kx_srcrange_key);
	__type(value, __u8);
} kx_srcrange SEC(".maps");

/* Host sockets sent to a backend by sock_connect4/sendmsg4: (cookie, backend) -> the VIP they asked for. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KX_SOCK_REV_SIZE);
	__type(key, struct kx_sock_rev_key);
	__type(value, struct kx_sock_rev_val);
} kx_sock_rev SEC(".maps");

/* ClientIP session affinity: (service entry, client) -> backend and last use; LRU bounds it. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KX_AFFINITY_SIZE);
	__type(key, struct kx_affinity_key);
	__type(value, struct kx_affinity_val);
} kx_affinity SEC(".maps");

/* Per service entry: connections, packets and bytes each way (ipvsadm --stats); atomic adds. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct kx_svc_counter);
} kx_svc_stats SEC(".maps");

/* Other nodes by InternalIP -> name and pod CIDR: the agent writes it for `kxdp route list`. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_MAX_NODES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __be32);
	__type(value, struct kx_node_info);
} kx_nodes SEC(".maps");

/* Backend sets of the entries with ClientIP affinity: (svc id, backend id) -> 1, for lb_pick. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_MAX_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kx_member_key);
	__type(value, __u8);
} kx_members SEC(".maps");

/* NetworkPolicy sets of the pods of this node, by kx_endpoint_slot(IP): the agent writes, the CNI starts them. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_ENDPOINT_SLOTS);
	__type(key, __u32);
	__type(value, struct kx_pol_ep);
} kx_pol_ep SEC(".maps");

/* Policy peers: (set, peer prefix) -> rows admitting it; longest prefix wins (except flattened by the agent). */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KX_POL_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kx_pol_peer_key);
	__type(value, __u64);
} kx_pol_peer SEC(".maps");

/* Policy rows: set * KX_POL_SET_ROWS + i -> protocol and port range of the set's row i. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_POL_MAX_SETS * KX_POL_SET_ROWS);
	__type(key, __u32);
	__type(value, struct kx_pol_row_val);
} kx_pol_rows SEC(".maps");

/* Namespaces with policies -> directions isolated there: only the CNI reads it (a new pod starts denied). */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KX_POL_MAX_NS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kx_pol_ns_key);
	__type(value, __u8);
} kx_pol_ns SEC(".maps");

/* First packets each policy set allowed and denied (kxdp policy list, metrics per policy); atomic adds. */
KX_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KX_POL_MAX_SETS);
	__type(key, __u32);
	__type(value, struct kx_pol_counter);
} kx_pol_stats SEC(".maps");

#endif /* KX_BPF_MAPS_H */
