/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The NetworkPolicy compiler: a pure function from the cluster's Pods,
 * Namespaces and NetworkPolicies and this node's name to what the datapath
 * checks (no kernel, no I/O: unit-tested on fixtures).
 *
 * For each pod of this node and each direction a policy set: the rows (a
 * protocol and a port range each, at most KX_POL_SET_ROWS) and the peer
 * prefixes, each with the bitmask of the rows that admit a peer inside it.
 * The prefixes are flattened so that the longest one holding an address
 * answers exactly (ipBlock except included). Pods with the same content
 * share one set. A pod no policy selects for a direction has no set there.
 *
 * Also the reference evaluator: the Kubernetes semantics straight from the
 * objects, for `kxdp policy explain` and as the unit tests' oracle.
 */
#ifndef KX_POLICY_H
#define KX_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include "k8s/k8s.h"
#include "kxdp_abi.h"

enum kx_pol_dir {
	KX_POL_INGRESS = 0, /* peer = the packet's source, port = its destination port */
	KX_POL_EGRESS = 1, /* peer = its destination after service DNAT, port = that one's */
};

/* One row: a protocol (0: every protocol, a rule without ports) and a port range. */
struct kx_pol_row {
	uint8_t proto;
	uint16_t port_lo; /* host order */
	uint16_t port_hi;
};

/* A peer prefix of a set and the rows (bit i: rows[i]) admitting addresses inside it. */
struct kx_pol_prefix {
	uint32_t addr; /* network order, host bits 0 */
	uint8_t len;
	uint64_t rows; /* 0: nothing admitted (an except, or a pod no row admits) */
};

struct kx_pol_set {
	uint8_t dir; /* enum kx_pol_dir */
	struct kx_pol_row rows[KX_POL_SET_ROWS]; /* distinct, sorted by proto, port_lo, port_hi */
	size_t n_rows;
	struct kx_pol_prefix *prefixes; /* sorted by addr (host order), then len; distinct */
	size_t n_prefixes;
	uint32_t *policies; /* the policies (indices into st->netpols) selecting its pods, sorted */
	size_t n_policies;
	bool deny_all; /* it could not be compiled (more than KX_POL_SET_ROWS rows): denies all */
};

/* A pod of this node with an address: its set per direction (-1: not isolated). */
struct kx_pol_pod {
	uint32_t addr; /* network order */
	uint32_t pod; /* index into st->pods */
	int32_t set[2]; /* index into t->sets by enum kx_pol_dir, -1 = none */
};

/* What the compiler produced. */
struct kx_pol_table {
	struct kx_pol_set *sets;
	size_t n_sets;
	struct kx_pol_pod *pods; /* sorted by address (host order) */
	size_t n_pods;
	/*
	 * Namespaces where some policy isolates a direction (bit 1 << dir): a
	 * pod wired there before the agent knows it starts denied that way.
	 */
	struct kx_pol_ns {
		char name[64];
		uint8_t dirs;
	} *ns;
	size_t n_ns;
	struct k8s_refusals refused; /* policies that could not be applied (a set too large) */
};

/*
 * -1 only when memory runs out. A set needing more than KX_POL_SET_ROWS rows
 * is deny_all and every policy in it is reported in t->refused (kind
 * NetworkPolicy, "ns/name", one line naming the pod and the limit).
 */
int kx_policy_build(const struct k8s_state *st, const char *node, struct kx_pol_table *t,
		    struct kx_err *err);
void kx_pol_table_free(struct kx_pol_table *t);

/* The order of a set's prefixes: by address (host order), then length (a qsort comparator). */
int kx_pol_prefix_cmp(const void *a, const void *b);

/* The rows of set s admitting peer address addr (network order): its longest prefix. */
uint64_t kx_pol_set_lookup(const struct kx_pol_set *s, uint32_t addr);

/* Why a connection is allowed or denied in one direction (the reference evaluator). */
struct kx_pol_verdict {
	bool isolated; /* some policy selects the pod for this direction */
	bool allowed;
	int32_t policy; /* the first allowing policy (index into st->netpols), -1 = none */
	int32_t rule; /* its rule index (ingress[] or egress[]), -1 = none */
	uint32_t n_selecting; /* how many policies select the pod for this direction */
};

/*
 * Would pod (index into st->pods) allow, in direction dir, a connection
 * with peer address peer (network order) to port/proto (the destination
 * port: the pod's for ingress, the peer's for egress)? By the Kubernetes
 * semantics, straight from the objects.
 */
void kx_policy_eval(const struct k8s_state *st, uint32_t pod, enum kx_pol_dir dir, uint32_t peer,
		    uint8_t proto, uint16_t port, struct kx_pol_verdict *v);

#endif /* KX_POLICY_H */
