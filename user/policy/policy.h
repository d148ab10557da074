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

/* One pod changed in place, for kx_policy_patch_pods. */
struct kx_pol_pod_change {
	uint32_t pod; /* its index into st->pods (its version now) */
	const struct k8s_pod *was; /* its version the table was built from */
};

#define KX_POL_PATCH_FULL 1 /* kx_policy_patch_pods: only kx_policy_build can say it */

/*
 * Bring t, what kx_policy_build made for node of a state S, to what it makes
 * of st, where st is S but for the pods of changes[] (each at the same index,
 * the same namespace and name; its labels, address, phase or ports changed
 * in place): the other pods, the Namespaces and the NetworkPolicies are S's,
 * in S's order. Then t equals kx_policy_build(st, node) field for field: the
 * same pods, sets in the same order, prefixes, policies, namespaces and
 * refusals. Only the /32s of the addresses a changed pod held or holds are
 * rewritten.
 *
 * 0 when done. KX_POL_PATCH_FULL, t untouched, when it takes a build: a
 * changed pod is or was an endpoint of node (a selection changes), it starts
 * or stops giving a set rows through a named egress port or gives others (a
 * set's rows could change: asked even where another pod gives the same), t
 * has a deny_all set, sets would merge (equal content) or split (pods of
 * different policies sharing one), or an index is not in st. -1 with err
 * when memory runs out, t untouched.
 */
int kx_policy_patch_pods(const struct k8s_state *st, const char *node,
			 const struct kx_pol_pod_change *changes, size_t n, struct kx_pol_table *t,
			 struct kx_err *err);

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
