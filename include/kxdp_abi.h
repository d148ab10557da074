/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kxdp datapath ABI: the one definition of every map key and value, map name,
 * enum and limit shared by the BPF programs (bpf/) and user space (user/).
 *
 * Pinned maps outlive the agent, so a layout change here is a new map name
 * (kx_<what>_v2) plus a migration on agent start, never an edit in place.
 * All multi-byte addresses and ports are in network byte order (__be*).
 */
#ifndef KXDP_ABI_H
#define KXDP_ABI_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Map names: the kernel keeps 15 characters, pins use the same name. */
#define KX_MAP_SVC "kx_svc"
#define KX_MAP_SLOTS "kx_slots"
#define KX_MAP_BACKENDS "kx_backends"
#define KX_MAP_RR "kx_rr"
#define KX_MAP_CT "kx_ct"
#define KX_MAP_ENDPOINTS "kx_endpoints"
#define KX_MAP_STATS "kx_stats"
#define KX_MAP_CONFIG "kx_config"
#define KX_MAP_SRCRANGE "kx_srcrange"
#define KX_MAP_SOCK_REV "kx_sock_rev"
#define KX_MAP_AFFINITY "kx_affinity"
#define KX_MAP_SVC_STATS "kx_svc_stats"
#define KX_MAP_NODES "kx_nodes"
#define KX_MAP_MEMBERS "kx_members"
#define KX_MAP_POL_EP "kx_pol_ep"
#define KX_MAP_POL_PEER "kx_pol_peer"
#define KX_MAP_POL_ROWS "kx_pol_rows"
#define KX_MAP_POL_NS "kx_pol_ns"
#define KX_MAP_POL_STATS "kx_pol_stats"

/*
 * Every map, once: X(field, name, key type, key size, value type, value
 * size). field holds its fd in user space's struct kx_maps; the sizes are
 * what the pins depend on (asserted at the end of this file). The BPF
 * definitions (bpf/lib/maps.h) add each map's type and limits.
 */
#define KX_MAP_LIST(X) \
	X(svc, KX_MAP_SVC, struct kx_svc_key, 8, struct kx_svc_val, 12) \
	X(slots, KX_MAP_SLOTS, struct kx_slot_key, 8, __u32, 4) \
	X(backends, KX_MAP_BACKENDS, __u32, 4, struct kx_backend, 12) \
	X(rr, KX_MAP_RR, __u32, 4, __u64, 8) \
	X(ct, KX_MAP_CT, struct kx_ct_key, 16, struct kx_ct_val, 32) \
	X(endpoints, KX_MAP_ENDPOINTS, __u32, 4, struct kx_endpoint, 20) \
	X(stats, KX_MAP_STATS, __u32, 4, struct kx_counter, 16) \
	X(config, KX_MAP_CONFIG, __u32, 4, struct kx_config, 64) \
	X(srcrange, KX_MAP_SRCRANGE, struct kx_srcrange_key, 12, __u8, 1) \
	X(sock_rev, KX_MAP_SOCK_REV, struct kx_sock_rev_key, 16, struct kx_sock_rev_val, 8) \
	X(affinity, KX_MAP_AFFINITY, struct kx_affinity_key, 8, struct kx_affinity_val, 16) \
	X(svc_stats, KX_MAP_SVC_STATS, __u32, 4, struct kx_svc_counter, 40) \
	X(nodes, KX_MAP_NODES, __be32, 4, struct kx_node_info, 72) \
	X(members, KX_MAP_MEMBERS, struct kx_member_key, 8, __u8, 1) \
	X(pol_ep, KX_MAP_POL_EP, __u32, 4, struct kx_pol_ep, 8) \
	X(pol_peer, KX_MAP_POL_PEER, struct kx_pol_peer_key, 12, __u64, 8) \
	X(pol_rows, KX_MAP_POL_ROWS, __u32, 4, struct kx_pol_row_val, 8) \
	X(pol_ns, KX_MAP_POL_NS, struct kx_pol_ns_key, 64, __u8, 1) \
	X(pol_stats, KX_MAP_POL_STATS, __u32, 4, struct kx_pol_counter, 16)

/* Program names, also their pin names under <bpffs>/kxdp/. */
#define KX_PROG_TC_FROM_POD "tc_from_pod"
#define KX_PROG_TC_TO_POD "tc_to_pod"
#define KX_PROG_XDP_NETDEV "xdp_netdev"
#define KX_PROG_TC_NETDEV "tc_netdev"
#define KX_PROG_TC_NETDEV_OUT "tc_netdev_out"
#define KX_PROG_SOCK_CONNECT4 "sock_connect4"
#define KX_PROG_SOCK_SENDMSG4 "sock_sendmsg4"
#define KX_PROG_SOCK_RECVMSG4 "sock_recvmsg4"
#define KX_PROG_SOCK_GETPEERNAME4 "sock_getpeername4"

/* Directory under the bpffs mount that holds every kxdp pin. */
#define KX_PIN_DIR "kxdp"

/* Limits: map sizes. Raising one changes the map: see the note above. */
#define KX_MAX_SERVICES 131072 /* (VIP, port, proto, scope) entries */
#define KX_MAX_BACKENDS 262144 /* distinct (IP, port) backends */
#define KX_MAX_SLOTS 524288 /* sum of backend counts over services */
#define KX_MAX_BACKENDS_PER_SVC 65535 /* kx_svc_val.count is 16 bits */
#define KX_CT_SIZE 262144 /* conntrack entries, two per flow */
#define KX_ENDPOINT_SLOTS 65536 /* kx_endpoints: one slot per address of a /16 */
#define KX_MAX_SRCRANGES 65536 /* loadBalancerSourceRanges prefixes over all services */
#define KX_NODE_ADDRS 8 /* addresses of this node a NodePort answers on */
#define KX_SOCK_REV_SIZE 65536 /* host sockets connected to a service, for getpeername */
#define KX_AFFINITY_SIZE 131072 /* (service, client) pairs with ClientIP affinity */
#define KX_AFFINITY_DEFAULT_S 10800 /* sessionAffinityConfig.clientIP.timeoutSeconds default */

/*
 * Source ports of NodePort connections SNATed to the node's address (policy
 * Cluster, backend on another node): above Linux's default ephemeral range
 * (32768-60999) and the NodePort range (30000-32767), so they never meet a
 * socket of the node or a node port.
 */
#define KX_SNAT_PORT_MIN 61000
#define KX_SNAT_PORT_MAX 65535

/* TC priority and handle kxdp's filters use on pod veths. */
#define KX_TC_PRIO 1
#define KX_TC_HANDLE 1

/* Service scope: where the service address is reached from. */
/*
 * The small enums are packed (one byte) so that structs can hold them as
 * typed fields: bpftool then prints their names, not numbers.
 */
#define KX_PACKED_ENUM __attribute__((packed))

enum KX_PACKED_ENUM kx_scope {
	KX_SCOPE_INTERNAL = 0, /* ClusterIP, from pods and the node */
	KX_SCOPE_EXTERNAL = 1, /* NodePort, ExternalIP, LoadBalancer */
};

/*
 * The vip of a node port's kx_svc entry (scope external): it answers on every
 * address of the node listed in kx_config.node_addrs.
 */
#define KX_VIP_NODEPORT 0

/* Backend selection algorithm of a service (kube-router's service.scheduler). */
enum KX_PACKED_ENUM kx_algo {
	KX_ALGO_RR = 0, /* strict round robin, one counter per service */
	KX_ALGO_SH = 1, /* source hashing: the client address picks the slot */
	KX_ALGO_MH = 2, /* Maglev hashing: the slots hold a lookup table of KX_MAGLEV_* entries */
	KX_ALGO_RANDOM = 3, /* a random slot per new flow */
};

/*
 * Maglev lookup table sizes (primes): the small one while a service has at
 * most KX_MAGLEV_SMALL_MAX backends (about 100 entries each keeps the spread
 * even), the large one above.
 */
_Static_assert(sizeof(enum kx_algo) == 1, "packed enums are one byte");

#define KX_MAGLEV_SMALL 4093
#define KX_MAGLEV_SMALL_MAX 40
#define KX_MAGLEV_LARGE 65521

/* Lookup key of kx_svc. */
struct kx_svc_key {
	__be32 vip;
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	enum kx_scope scope;
};

/* Value of kx_svc: published last, after its slots exist. */
struct kx_svc_val {
	__u32 id; /* 1..KX_MAX_SERVICES-1; index of kx_rr, key of kx_slots */
	__u16 count; /* backends in slots 0..count-1; 0 = reject */
	__u8 flags; /* KX_SVC_F_* */
	enum kx_algo algo;
	__u32 affinity_timeout_s; /* ClientIP affinity idle timeout; 0 = off */
};

/*
 * kx_svc_val.flags. A service's backend set lives in one of two slot ranges,
 * [0, count) or [KX_SLOT_HIGH_BASE, KX_SLOT_HIGH_BASE + count): a new set is
 * written into the unused range and published by one update of the service
 * entry that flips KX_SVC_F_SLOTS_HIGH, so no packet sees a half-written set.
 */
#define KX_SVC_F_SLOTS_HIGH (1 << 0)
#define KX_SLOT_HIGH_BASE 65536
/*
 * Traffic policy Local (externalTrafficPolicy on an external entry,
 * internalTrafficPolicy on a ClusterIP): every backend is on this node, the
 * client's address is kept, and with none the packet is dropped, not refused.
 */
#define KX_SVC_F_LOCAL (1 << 1)
/* loadBalancerSourceRanges: only sources kx_srcrange allows for this id reach it. */
#define KX_SVC_F_SRC_RANGES (1 << 2)
/*
 * An external address (node port, ExternalIP, LB IP) as pods and the node
 * reach it (scope internal): served inside with the Service's cluster-wide
 * backends, as kube-proxy short-circuits it, never sent out and back.
 */
#define KX_SVC_F_IN_CLUSTER (1 << 3)
/* sh and mh hash the client's port with its address (kube-router's flag-2: sh-port, mh-port). */
#define KX_SVC_F_HASH_PORT (1 << 4)
/*
 * The entry {ClusterIP, port 0, proto 0, internal} marks a ClusterIP as
 * known, with no backends: a port the Service does not have is refused (ICMP
 * port unreachable, as kube-proxy's nftables mode), and ICMP echo to it is
 * answered, as IPVS VIPs on kube-dummy-if are.
 */
#define KX_SVC_F_VIP (1 << 5)

static inline __u32 kx_slot_base(__u8 svc_flags)
{
	return svc_flags & KX_SVC_F_SLOTS_HIGH ? KX_SLOT_HIGH_BASE : 0;
}

/*
 * kx_affinity (sessionAffinity ClientIP): the backend a client's connections
 * to a service entry go to, and when it last opened one. The agent deletes
 * the pairs whose backend left the entry's set.
 */
struct kx_affinity_key {
	__u32 svc_id;
	__be32 client;
};

struct kx_affinity_val {
	__u32 backend_id;
	__be32 backend_addr; /* its address then: a reused id is another backend (0: unknown) */
	__u64 last_ns; /* bpf_ktime_get_ns() of the client's last new connection */
};

/*
 * Key of kx_members: backend backend_id is in the set of service entry
 * svc_id (kept for entries with ClientIP affinity, whose pairs name a
 * backend id that must still be in the set to be honoured).
 */
struct kx_member_key {
	__u32 svc_id;
	__u32 backend_id;
};

/* Key of kx_slots: the slot'th backend of service svc_id. */
struct kx_slot_key {
	__u32 svc_id;
	__u32 slot;
};

/* Backend state: new connections go to active ones only. */
enum KX_PACKED_ENUM kx_backend_state {
	KX_BACKEND_ACTIVE = 0,
	KX_BACKEND_TERMINATING = 1,
};

/* Value of kx_backends, keyed by a __u32 backend id (1..KX_MAX_BACKENDS-1). */
struct kx_backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	enum kx_backend_state state;
	__u8 flags; /* reserved for KX_BACKEND_F_* (node-local), 0 */
	__u8 pad[3];
};

/* Conntrack direction: which rewrite a hit asks for. */
enum KX_PACKED_ENUM kx_ct_dir {
	KX_CT_FORWARD = 1, /* client -> VIP: DNAT to the backend */
	KX_CT_REPLY = 2, /* backend -> client: source back to VIP:port */
};

/* Conntrack flags, kept in kx_ct_val.flags. */
#define KX_CT_F_SEEN_REPLY (1 << 0)
#define KX_CT_F_CLOSING (1 << 1) /* FIN or RST seen */
#define KX_CT_F_EXTERNAL (1 << 2) /* a flow from outside the node (NodePort, ExternalIP, LB) */
#define KX_CT_F_SNAT (1 << 3) /* source rewritten too: nat2 holds the other half */
/*
 * The node's stack NATed this flow (a hostPort: netfilter's DNAT, from the
 * portmap plugin) on its way from a pod of this node into another: the
 * entry is the reply's, and its replies go back through the stack, for
 * netfilter to undo the NAT, instead of straight into the client pod.
 */
#define KX_CT_F_STACK (1 << 4)
/*
 * A flow no service NATs, of a pod NetworkPolicy isolates, judged and
 * allowed on its first packet: the entry rewrites nothing (nat_addr and
 * nat_port are the other end's own, so the twin rule holds), it lets the
 * flow's later packets and its replies pass unjudged.
 */
#define KX_CT_F_POLICY (1 << 5)

/*
 * Key of kx_ct: the 5-tuple exactly as the packet carries it when it reaches
 * the program, before any rewrite. A forward entry is keyed by the client's
 * tuple towards the VIP, a reply entry by the backend's tuple towards the
 * client, so one lookup serves both directions.
 */
struct kx_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/*
 * Value of kx_ct: the address and port the hit rewrites to. A flow with
 * KX_CT_F_SNAT rewrites both ends: forward, the source becomes nat2; reply,
 * the destination becomes nat2 (the client again). nat2 is, forward, the
 * node's IP and a SNAT port (a node port's remote backend), the VIP and the
 * pod's port (a hairpin), or the client's own address and another port (a
 * clash on the reply tuple moved it).
 */
struct kx_ct_val {
	__be32 nat_addr; /* forward: backend IP; reply: VIP */
	__be16 nat_port; /* forward: backend port; reply: service port */
	enum kx_ct_dir dir;
	__u8 flags; /* KX_CT_F_* */
	__u32 svc_id;
	__u32 backend_id;
	__u64 last_seen; /* bpf_jiffies64() of the last activity (CT_TOUCH_JIFFIES granularity) */
	__be32 nat2_addr; /* KX_CT_F_SNAT: forward, the new source; reply, client IP */
	__be16 nat2_port; /* KX_CT_F_SNAT: forward, the new source port; reply, client port */
	__u16 pad;
};

/* What the ct_clock program returns in its frame: two clocks read together. */
struct kx_clock {
	__u64 jiffies; /* bpf_jiffies64(), the unit of kx_ct_val.last_seen */
	__u64 mono_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
};

/*
 * The key of the other direction's entry of the flow entry (k, v) belongs
 * to: the datapath marks both closing, the agent's GC ages and deletes both.
 */
static inline void kx_ct_twin_key(const struct kx_ct_key *k, const struct kx_ct_val *v,
				  struct kx_ct_key *t)
{
	int snat = v->flags & KX_CT_F_SNAT;

	*t = *k;
	if (v->dir == KX_CT_FORWARD) { /* twin: backend -> client (or the node's SNAT port) */
		t->saddr = v->nat_addr;
		t->sport = v->nat_port;
		t->daddr = snat ? v->nat2_addr : k->saddr;
		t->dport = snat ? v->nat2_port : k->sport;
	} else { /* twin: client -> VIP */
		t->saddr = snat ? v->nat2_addr : k->daddr;
		t->sport = snat ? v->nat2_port : k->dport;
		t->daddr = v->nat_addr;
		t->dport = v->nat_port;
	}
}

/*
 * Value of kx_endpoints, an array indexed by kx_endpoint_slot(pod IP). Every
 * packet looks up its source and its destination here, and an array lookup
 * is inlined by the verifier (~1 ns) where a hash lookup is a helper call
 * (~40 ns on the benchmark machine). A node's pod CIDR is at most a /16, so
 * its pods never share a slot; addr tells whose slot it is (0: free).
 */
struct kx_endpoint {
	__be32 addr; /* the pod's IPv4 address; 0 = free slot */
	__u32 ifindex; /* host-side veth */
	__u8 pod_mac[6]; /* MAC of the pod's interface */
	__u8 host_mac[6]; /* MAC of the host-side veth */
};

/* The kx_endpoints slot of an address: its low 16 bits. */
static inline __u32 kx_endpoint_slot(__be32 addr)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(addr) & (KX_ENDPOINT_SLOTS - 1);
#else
	return addr & (KX_ENDPOINT_SLOTS - 1);
#endif
}

/* Value of kx_config's only entry (key 0): node-wide settings from the agent. */
struct kx_config {
	__be32 svc_cidr; /* the Service CIDR, network order, 0 = unknown */
	__be32 svc_mask; /* its netmask: traffic to an unknown IP in it is rejected */
	__u32 flags; /* KX_CFG_F_* */
	__be32 node_ip; /* source of SNATed NodePort traffic: the node's InternalIP */
	__u32 uplink_ifindex; /* where replies of external flows leave */
	__u32 n_node_addrs; /* node_addrs[0..n) */
	__be32 node_addrs[KX_NODE_ADDRS]; /* where node ports answer */
	__u64 netns_cookie; /* the node's network namespace: the sock_* programs act there only */
};

/*
 * kx_config.flags. KX_CFG_F_POLICY: NetworkPolicy may isolate a pod of this
 * node (some namespace has a policy, or a pod here has a set): only then do
 * first packets look their pods up in kx_pol_ep, so a cluster without
 * policies pays nothing for them. Set before any set is written, cleared
 * after the last is gone.
 */
#define KX_CFG_F_POLICY (1 << 0)

/*
 * Key of kx_sock_rev: a host socket (its cookie) that a sock_* program sent
 * to a backend instead of a ClusterIP; the value is that ClusterIP, which
 * recvmsg and getpeername give back to the application.
 */
struct kx_sock_rev_key {
	__u64 cookie;
	__be32 addr; /* backend */
	__be16 port;
	__u16 pad;
};

struct kx_sock_rev_val {
	__be32 vip;
	__be16 vport;
	__u16 pad;
};

/*
 * Key of kx_srcrange (an LPM trie): prefixlen = 32 (the id) + the source
 * prefix length; svc_id in network order so it is the leading bits.
 */
struct kx_srcrange_key {
	__u32 prefixlen;
	__be32 svc_id;
	__be32 addr;
};

/*
 * Counters of kx_stats (a per-CPU array indexed by enum kx_stat), once:
 * X(enum name, the name `kxdp stats` and the metrics show). Drops are named
 * so `kxdp stats` and bpftool show why a packet went. The index is an
 * upgrade ABI, a counter keeps its index: new counters go last. The LRU
 * evicts silently, so conntrack evictions = created - deleted -
 * deleted_user - entries.
 */
#define KX_STAT_LIST(X) \
	X(KX_STAT_PASS, "pass") /* handed to the kernel untouched */ \
	X(KX_STAT_MALFORMED, "malformed") /* truncated or invalid IPv4, left to the kernel */ \
	X(KX_STAT_ARP_REPLY, "arp_reply") /* pod ARP answered with the host MAC */ \
	X(KX_STAT_REDIRECT_LOCAL, "redirect_local") /* delivered to a pod of this node */ \
	X(KX_STAT_SVC_NEW, "svc_new") /* new connection to a service, backend chosen */ \
	X(KX_STAT_SVC_ESTABLISHED, "svc_established") /* conntrack forward hit, DNAT */ \
	X(KX_STAT_REVNAT, "revnat") /* conntrack reply hit, source back to VIP */ \
	X(KX_STAT_REJECT_NO_BACKEND, "reject_no_backend") /* ICMP port unreachable sent */ \
	X(KX_STAT_DROP_SPOOFED, "drop_spoofed") /* source IP is not the sending pod's */ \
	X(KX_STAT_DROP_NO_SLOT, "drop_no_slot") /* service slot or backend missing */ \
	X(KX_STAT_DROP_CT_FULL, "drop_ct_full") /* conntrack insert failed */ \
	X(KX_STAT_DROP_REWRITE, "drop_rewrite") /* a packet rewrite helper failed */ \
	X(KX_STAT_XDP_PASS, "xdp_pass") /* uplink frames passed on by xdp_netdev */ \
	X(KX_STAT_REJECT_NO_SERVICE, "reject_no_service") /* to an unallocated IP of the Service CIDR */ \
	X(KX_STAT_EXT_NEW, "external_new") /* new external connection (NodePort, ExternalIP, LB), backend chosen */ \
	X(KX_STAT_EXT_ESTABLISHED, "external_established") /* conntrack hit of an external flow in xdp_netdev */ \
	X(KX_STAT_EXT_TX, "external_tx") /* external flow sent on to another node by xdp_netdev */ \
	X(KX_STAT_DROP_NO_LOCAL, "drop_no_local") /* traffic policy Local and no backend on this node */ \
	X(KX_STAT_DROP_SRC_RANGE, "drop_src_range") /* source outside the service's loadBalancerSourceRanges */ \
	X(KX_STAT_DROP_NO_ROUTE, "drop_no_route") /* no route or neighbour towards a backend or client */ \
	X(KX_STAT_DROP_NO_SNAT_PORT, "drop_no_snat_port") /* no free SNAT port for a new flow */ \
	X(KX_STAT_SOCK_CONNECT, "sock_connect") /* a host socket sent to a backend at connect/sendmsg */ \
	X(KX_STAT_SOCK_REFUSED, "sock_refused") /* a host socket to a service without endpoints: ECONNREFUSED */ \
	X(KX_STAT_DROP_EXT_NO_BACKEND, "drop_ext_no_backend") /* ExternalIP/LB IP without endpoints, dropped: LB source outside the ranges, or policy Local */ \
	X(KX_STAT_HAIRPIN, "hairpin") /* a pod sent to itself through its Service (also counted svc_new) */ \
	X(KX_STAT_REJECT_NO_PORT, "reject_no_port") /* to a ClusterIP on a port its Service does not have */ \
	X(KX_STAT_ECHO_REPLY, "echo_reply") /* ICMP echo to a ClusterIP answered */ \
	X(KX_STAT_DROP_FRAGMENT, "drop_fragment") /* an IP fragment to a ClusterIP: no ports, no backend to pick */ \
	X(KX_STAT_ICMP_ERROR_REVNAT, "icmp_error_revnat") /* an ICMP error about a NATed flow, translated for its client */ \
	/* conntrack bookkeeping, in entries (not packets): see kx_ct_usage() */ \
	X(KX_STAT_CT_CREATED, "ct_created") /* a conntrack entry written under a new key */ \
	X(KX_STAT_CT_DELETED, "ct_deleted") /* a conntrack entry the datapath deleted */ \
	X(KX_STAT_CT_DELETED_USER, "ct_deleted_user") /* ... the agent or CLI deleted (only user space writes it) */ \
	X(KX_STAT_STACK_REPLY, "stack_reply") /* a reply of a flow the stack NATed (a hostPort), sent back through it */ \
	X(KX_STAT_CT_PORT_MOVED, "ct_port_moved") /* a new flow's reply tuple was another flow's: its source port changed */ \
	X(KX_STAT_DROP_POLICY_INGRESS, "drop_policy_ingress") /* no NetworkPolicy of the destination pod admits the flow */ \
	X(KX_STAT_DROP_POLICY_EGRESS, "drop_policy_egress") /* no NetworkPolicy of the source pod admits the flow */ \
	X(KX_STAT_POLICY_ALLOWED, "policy_allowed") /* a flow of an isolated pod judged and allowed (its first packet) */

#define KX_STAT_ENUM(id, name) id,
enum kx_stat {
	KX_STAT_LIST(KX_STAT_ENUM)
	KX_STAT_MAX,
};
#undef KX_STAT_ENUM

/* Indices counters had before: they are pinned in kx_stats across upgrades. */
_Static_assert(KX_STAT_PASS == 0 && KX_STAT_XDP_PASS == 12 && KX_STAT_ICMP_ERROR_REVNAT == 28 &&
	       KX_STAT_CT_DELETED_USER == 31 && KX_STAT_STACK_REPLY == 32,
	       "a counter keeps its index: add new ones at the end of KX_STAT_LIST");

/*
 * Value of kx_svc_stats, an array indexed by service entry id: what
 * `ipvsadm -Ln --stats` shows per virtual service. Shared by all CPUs
 * (atomic adds): a per-CPU array of 131,072 entries would cost 5 MiB per CPU.
 * The agent zeroes an id's counters when it gives the id to a new entry.
 */
struct kx_svc_counter {
	__u64 conns; /* new connections (flows) */
	__u64 in_pkts; /* client -> backend */
	__u64 in_bytes;
	__u64 out_pkts; /* backend -> client */
	__u64 out_bytes;
};

/* Value of kx_nodes (key: a node's InternalIP): which node a route leads to, for the CLI. */
struct kx_node_info {
	char name[64]; /* the Node's name (cut at 63 characters) */
	__be32 pod_cidr;
	__u8 pod_cidr_len;
	__u8 pad[3];
};

#define KX_MAX_NODES 16384

/*
 * NetworkPolicy. Each pod of this node has, per direction, a policy set id
 * (kx_pol_ep): 0 = no policy selects it that way (nothing is checked), else
 * the first packet of each of its flows is judged against that set: the
 * longest prefix of kx_pol_peer {set, peer address} gives a bitmask of rows,
 * and row i of the set (kx_pol_rows[set * KX_POL_SET_ROWS + i]) admits a
 * protocol and port range. Allowed flows get conntrack entries, so their
 * later packets and replies are not judged again.
 */
#define KX_POL_SET_ROWS 64 /* rows of one set: the bits of a kx_pol_peer value */
#define KX_POL_MAX_SETS 4096 /* set ids 1..KX_POL_MAX_SETS-1 */
#define KX_POL_MAX_PEERS 1048576 /* kx_pol_peer prefixes over all sets */
#define KX_POL_MAX_NS 16384
/*
 * The set that admits nothing (no prefix has it): a pod the CNI wires in a
 * namespace with policies before the agent has judged it, and a pod whose
 * set could not be programmed. Fails closed.
 */
#define KX_POL_SET_DENY 1

/* Directions, the index of kx_pol_ep.set and the bits of a kx_pol_ns value. */
#define KX_POL_DIR_INGRESS 0
#define KX_POL_DIR_EGRESS 1

/* Value of kx_pol_ep, indexed like kx_endpoints (kx_endpoint_slot of the pod's IP). */
struct kx_pol_ep {
	__be32 addr; /* the pod's IPv4 address; another (or 0): no policy */
	__u16 set[2]; /* by KX_POL_DIR_*: the policy set, 0 = not isolated */
};

/* Key of kx_pol_peer (an LPM trie): prefixlen = 32 (the set) + the peer prefix length. */
struct kx_pol_peer_key {
	__u32 prefixlen;
	__be32 set; /* the set id, network order: the leading bits */
	__be32 addr;
};

/* Value of kx_pol_rows: one row of a set (proto 0: any protocol). */
struct kx_pol_row_val {
	__u8 proto;
	__u8 pad;
	__u16 port_lo; /* host order, inclusive */
	__u16 port_hi;
	__u16 pad2;
};

/* Key of kx_pol_ns: a namespace name, NUL-padded (the CNI reads it for new pods). */
struct kx_pol_ns_key {
	char name[64];
};

/* Value of kx_pol_stats (an array by set id): first packets judged, atomic adds. */
struct kx_pol_counter {
	__u64 allowed;
	__u64 denied;
};

/* Entries of kx_stats: room for new counters without changing the map. */
#define KX_STAT_SLOTS 256

/* Value of kx_stats. */
struct kx_counter {
	__u64 packets;
	__u64 bytes;
};


/*
 * The layout pinned maps depend on, checked where BPF and user space are
 * built: every key and value size, and the offset of every field both read.
 */
#define KX_MAP_SIZES(field, name, key, key_size, val, val_size) \
	_Static_assert(sizeof(key) == (key_size) && sizeof(val) == (val_size), \
		       "map " name ": key or value size changed (a new map name, see the top)");
KX_MAP_LIST(KX_MAP_SIZES)
#undef KX_MAP_SIZES

#define KX_ABI_AT(type, field, off) \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), #type "." #field " moved")
KX_ABI_AT(kx_svc_key, vip, 0);
KX_ABI_AT(kx_svc_key, port, 4);
KX_ABI_AT(kx_svc_key, proto, 6);
KX_ABI_AT(kx_svc_key, scope, 7);
KX_ABI_AT(kx_svc_val, id, 0);
KX_ABI_AT(kx_svc_val, count, 4);
KX_ABI_AT(kx_svc_val, flags, 6);
KX_ABI_AT(kx_svc_val, algo, 7);
KX_ABI_AT(kx_svc_val, affinity_timeout_s, 8);
KX_ABI_AT(kx_slot_key, svc_id, 0);
KX_ABI_AT(kx_slot_key, slot, 4);
KX_ABI_AT(kx_backend, addr, 0);
KX_ABI_AT(kx_backend, port, 4);
KX_ABI_AT(kx_backend, proto, 6);
KX_ABI_AT(kx_backend, state, 7);
KX_ABI_AT(kx_backend, flags, 8);
KX_ABI_AT(kx_ct_key, saddr, 0);
KX_ABI_AT(kx_ct_key, daddr, 4);
KX_ABI_AT(kx_ct_key, sport, 8);
KX_ABI_AT(kx_ct_key, dport, 10);
KX_ABI_AT(kx_ct_key, proto, 12);
KX_ABI_AT(kx_ct_val, nat_addr, 0);
KX_ABI_AT(kx_ct_val, nat_port, 4);
KX_ABI_AT(kx_ct_val, dir, 6);
KX_ABI_AT(kx_ct_val, flags, 7);
KX_ABI_AT(kx_ct_val, svc_id, 8);
KX_ABI_AT(kx_ct_val, backend_id, 12);
KX_ABI_AT(kx_ct_val, last_seen, 16);
KX_ABI_AT(kx_ct_val, nat2_addr, 24);
KX_ABI_AT(kx_ct_val, nat2_port, 28);
KX_ABI_AT(kx_endpoint, addr, 0);
KX_ABI_AT(kx_endpoint, ifindex, 4);
KX_ABI_AT(kx_endpoint, pod_mac, 8);
KX_ABI_AT(kx_endpoint, host_mac, 14);
KX_ABI_AT(kx_config, svc_cidr, 0);
KX_ABI_AT(kx_config, svc_mask, 4);
KX_ABI_AT(kx_config, flags, 8);
KX_ABI_AT(kx_config, node_ip, 12);
KX_ABI_AT(kx_config, uplink_ifindex, 16);
KX_ABI_AT(kx_config, n_node_addrs, 20);
KX_ABI_AT(kx_config, node_addrs, 24);
KX_ABI_AT(kx_config, netns_cookie, 56);
KX_ABI_AT(kx_sock_rev_key, cookie, 0);
KX_ABI_AT(kx_sock_rev_key, addr, 8);
KX_ABI_AT(kx_sock_rev_key, port, 12);
KX_ABI_AT(kx_sock_rev_val, vip, 0);
KX_ABI_AT(kx_sock_rev_val, vport, 4);
KX_ABI_AT(kx_srcrange_key, prefixlen, 0);
KX_ABI_AT(kx_srcrange_key, svc_id, 4);
KX_ABI_AT(kx_srcrange_key, addr, 8);
KX_ABI_AT(kx_affinity_key, svc_id, 0);
KX_ABI_AT(kx_affinity_key, client, 4);
KX_ABI_AT(kx_affinity_val, backend_id, 0);
KX_ABI_AT(kx_affinity_val, backend_addr, 4);
KX_ABI_AT(kx_affinity_val, last_ns, 8);
KX_ABI_AT(kx_pol_ep, addr, 0);
KX_ABI_AT(kx_pol_ep, set, 4);
KX_ABI_AT(kx_pol_peer_key, prefixlen, 0);
KX_ABI_AT(kx_pol_peer_key, set, 4);
KX_ABI_AT(kx_pol_peer_key, addr, 8);
KX_ABI_AT(kx_pol_row_val, proto, 0);
KX_ABI_AT(kx_pol_row_val, port_lo, 2);
KX_ABI_AT(kx_pol_row_val, port_hi, 4);
KX_ABI_AT(kx_member_key, svc_id, 0);
KX_ABI_AT(kx_member_key, backend_id, 4);
KX_ABI_AT(kx_svc_counter, conns, 0);
KX_ABI_AT(kx_svc_counter, in_pkts, 8);
KX_ABI_AT(kx_svc_counter, in_bytes, 16);
KX_ABI_AT(kx_svc_counter, out_pkts, 24);
KX_ABI_AT(kx_svc_counter, out_bytes, 32);
KX_ABI_AT(kx_node_info, name, 0);
KX_ABI_AT(kx_node_info, pod_cidr, 64);
KX_ABI_AT(kx_node_info, pod_cidr_len, 68);
KX_ABI_AT(kx_counter, packets, 0);
KX_ABI_AT(kx_counter, bytes, 8);
KX_ABI_AT(kx_clock, jiffies, 0);
KX_ABI_AT(kx_clock, mono_ns, 8);
#undef KX_ABI_AT

#endif /* KXDP_ABI_H */
