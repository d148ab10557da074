/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The policy compiler's insides, shared by selector.c, peers.c, flatten.c,
 * compile.c and eval.c (not for other users: see policy.h).
 */
#ifndef KX_POL_INT_H
#define KX_POL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "policy/policy.h"

#define POL_NO_POD UINT32_MAX /* a row the rule's peers give, not one destination pod */

/* A growable array of pod or policy indices. */
struct u32_vec {
	uint32_t *v;
	size_t n, cap;
};

/* Room for one more element of size in *v (capacity *cap, n used); -1 out of memory. */
int pol_grow(void **v, size_t *cap, size_t n, size_t size);
/* Append x; -1 out of memory. */
int u32_push(struct u32_vec *v, uint32_t x);
/* Sort n elements of size at v by cmp, one of each kept: how many are left. */
size_t pol_sort_unique(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* Sort ascending and drop repeats. */
void u32_sort_unique(struct u32_vec *v);

/* selector.c: the Kubernetes matching rules. */
extern const struct k8s_labels pol_no_labels;
bool pol_sel_match(const struct k8s_selector *s, const struct k8s_labels *l);
bool pol_endpoint(const struct k8s_pod *p);
bool pol_has_type(const struct k8s_netpol *np, enum kx_pol_dir dir);
bool pol_selects(const struct k8s_netpol *np, const struct k8s_pod *p);
const struct k8s_np_rule *pol_rules(const struct k8s_netpol *np, enum kx_pol_dir dir, size_t *n);
const struct k8s_np_peer *pol_rule_peers(const struct k8s_np_rule *r, size_t *n);
bool pol_peer_ns_admits(const struct k8s_netpol *np, const struct k8s_np_peer *peer, const char *ns,
			const struct k8s_labels *ns_labels);
bool pol_peer_labels_admit(const struct k8s_np_peer *peer, const struct k8s_labels *l);
bool pol_peer_has_pod(const struct k8s_netpol *np, const struct k8s_np_peer *peer,
		      const struct k8s_pod *q, const struct k8s_labels *ns_labels);
bool pol_rule_admits_pod(const struct k8s_netpol *np, const struct k8s_np_rule *r,
			 const struct k8s_pod *q, const struct k8s_labels *ns_labels);
bool pol_rule_has_named(const struct k8s_np_rule *r);
uint32_t pol_net(uint32_t addr, uint8_t len);
bool pol_prefix_holds(uint32_t net, uint8_t len, uint32_t addr);
bool pol_block_admits(const struct k8s_np_peer *peer, uint32_t addr);
bool pol_port_is(const struct k8s_pod_port *pp, const struct k8s_np_port *e);
struct kx_pol_row pol_numeric_row(const struct k8s_np_port *e);
bool pol_row_matches(const struct kx_pol_row *r, uint8_t proto, uint16_t port);

/* peers.c: the state indexed once, and each needed rule's peer pods computed once. */
struct pol_ns_group {
	const char *ns;
	const struct k8s_labels *labels; /* of its Namespace object, or pol_no_labels */
	const uint32_t *pods;		 /* its endpoint pods, ascending (into pol_index.by_ns) */
	size_t n_pods;
};

struct pol_index {
	const struct k8s_state *st;
	uint32_t *by_ns;	     /* endpoint pods by (namespace, index) */
	struct pol_ns_group *groups; /* by namespace name */
	size_t n_groups;
	uint32_t *by_addr; /* endpoint pods by (address in host order, index) */
	size_t n_endpoints;
};

/* What the compiler knows of one rule's peers. */
struct pol_rule_peers {
	struct u32_vec *pods; /* by peer: the endpoint pods a PODS peer matches */
	struct u32_vec dst;   /* egress with a named port: every endpoint pod its peers admit */
};

/* The rules of one policy by direction, NULL where no local pod needs them. */
struct pol_cache {
	struct pol_rule_peers *rules[2];
	bool named_ingress; /* an ingress rule has a named port: its sets depend on the pod */
};

int pol_index_build(const struct k8s_state *st, struct pol_index *ix);
void pol_index_free(struct pol_index *ix);
const struct k8s_labels *pol_ns_labels(const struct k8s_state *st, const char *ns);
int pol_cache_fill(const struct pol_index *ix, uint32_t policy, enum kx_pol_dir dir,
		   struct pol_cache *c);
void pol_cache_free(const struct k8s_state *st, struct pol_cache *c, size_t n);

/*
 * flatten.c: one set's rows and prefixes from the policies selecting a pod.
 * The scratch, by pod index, is all zero between sets: each pod's /32 is
 * listed once however many peers name it, and the rows given to it are
 * gathered there before one look-up of its prefix.
 */
struct pol_scratch {
	bool *listed;	     /* its /32 is among the set's prefixes */
	uint64_t *rows;	     /* the rows given to it so far */
	struct u32_vec pods; /* the pods listed */
};

struct pol_set_input {
	const struct k8s_state *st;
	const struct pol_cache *cache; /* by policy */
	struct pol_scratch *scratch;
	uint32_t target; /* the pod the set is for (ingress named ports resolve on it) */
	uint8_t dir;
	const uint32_t *policies;
	size_t n_policies;
};

/* 0, or -1 out of memory. s->policies is left to the caller; n_wanted: distinct rows. */
int pol_set_flatten(const struct pol_set_input *in, struct kx_pol_set *s, size_t *n_wanted);
/*
 * What rule r (of a policy of set s, direction in->dir, ingress named ports
 * on in->target) gives, as bits of s's rows: *peers every address its peers
 * admit gets, *to_dst what its named egress ports give the pods of dst
 * (ones its peers admit). -1 when a row is none of s's (then s's rows would
 * change). in->cache and in->scratch are not read.
 */
int pol_rule_bits(const struct pol_set_input *in, const struct kx_pol_set *s,
		  const struct k8s_np_rule *r, const struct u32_vec *dst, uint64_t *peers,
		  uint64_t *to_dst);

/* compile.c: whether two sets have the same content (direction, deny_all, rows, prefixes). */
bool pol_set_equal(const struct kx_pol_set *x, const struct kx_pol_set *y);

#endif /* KX_POL_INT_H */
