// SPDX-License-Identifier: GPL-2.0
/*
 * kx_policy_build: which policies select each pod of this node per
 * direction, the peers of those policies' rules (once per rule), one set per
 * distinct policy list (flatten.c), sets of equal content shared, and the
 * namespaces where policies isolate pods.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

/* What selects one local pod. */
struct local_pols {
	struct u32_vec by_dir[2]; /* by direction: the policies selecting it, ascending */
};

/* One build's working state. */
struct build {
	const struct k8s_state *st;
	struct kx_pol_table *t;
	struct pol_index ix;
	struct pol_cache *cache;      /* by policy */
	struct local_pols *selecting; /* by t->pods entry */
	uint64_t *set_hash;	      /* by set: the hash of its content */
	size_t cap_sets;
	bool *refused[2];	    /* by direction and policy: a refusal is written */
	struct pol_scratch scratch; /* by pod, for flatten.c */
};

/* qsort order of t->pods: by address (host order), then pod index. */
static int pol_pod_cmp(const void *a, const void *b)
{
	const struct kx_pol_pod *x = a, *y = b;

	if (x->addr != y->addr)
		return ntohl(x->addr) < ntohl(y->addr) ? -1 : 1;
	return (x->pod > y->pod) - (x->pod < y->pod);
}

/* t->pods: this node's endpoint pods, none isolated yet. */
static int local_pods(struct build *b, const char *node)
{
	const struct k8s_state *st = b->st;
	struct kx_pol_table *t = b->t;

	t->pods = calloc(st->n_pods + 1, sizeof(*t->pods));
	if (!t->pods)
		return -1;
	for (uint32_t i = 0; i < st->n_pods; i++)
		if (pol_endpoint(&st->pods[i]) && !strcmp(st->pods[i].node, node))
			t->pods[t->n_pods++] = (struct kx_pol_pod){st->pods[i].addr, i, {-1, -1}};
	qsort(t->pods, t->n_pods, sizeof(*t->pods), pol_pod_cmp);
	return 0;
}

/* Policy p's selection of local pods for dir, and its rules' peers when it selects any. */
static int select_local(struct build *b, uint32_t p, enum kx_pol_dir dir)
{
	const struct k8s_netpol *np = &b->st->netpols[p];
	bool any = false;

	for (size_t k = 0; k < b->t->n_pods; k++) {
		if (!pol_selects(np, &b->st->pods[b->t->pods[k].pod]))
			continue;
		if (u32_push(&b->selecting[k].by_dir[dir], p))
			return -1;
		any = true;
	}
	return any ? pol_cache_fill(&b->ix, p, dir, &b->cache[p]) : 0;
}

/* Whether a set for local pod k depends on the pod itself (an ingress named port). */
static bool set_per_pod(const struct build *b, size_t k, enum kx_pol_dir dir)
{
	const struct u32_vec *pols = &b->selecting[k].by_dir[dir];

	for (size_t i = 0; dir == KX_POL_INGRESS && i < pols->n; i++)
		if (b->cache[pols->v[i]].named_ingress)
			return true;
	return false;
}

/* An earlier local pod selected by the same policies for dir, whose set k can share. */
static int32_t same_policies(const struct build *b, size_t k, enum kx_pol_dir dir)
{
	const struct u32_vec *pols = &b->selecting[k].by_dir[dir];

	if (set_per_pod(b, k, dir))
		return -1;
	for (size_t j = 0; j < k; j++) {
		const struct u32_vec *o = &b->selecting[j].by_dir[dir];

		if (o->n == pols->n && !memcmp(o->v, pols->v, pols->n * sizeof(*pols->v)))
			return b->t->pods[j].set[dir];
	}
	return -1;
}

/* FNV-1a, one field at a time (no padding hashed). */
static uint64_t fnv(uint64_t h, uint64_t x, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++, x >>= 8)
		h = (h ^ (x & 0xff)) * 1099511628211ull;
	return h;
}

/* A row as one number (hashing, comparing). */
static uint64_t row_key(const struct kx_pol_row *r)
{
	return r->proto | (uint64_t)r->port_lo << 8 | (uint64_t)r->port_hi << 24;
}

/* A prefix's address and length as one number (its rows apart). */
static uint64_t prefix_key(const struct kx_pol_prefix *p)
{
	return p->addr | (uint64_t)p->len << 32;
}

/* The hash of a set's content: direction, deny_all, rows, prefixes. */
static uint64_t set_hash(const struct kx_pol_set *s)
{
	uint64_t h = fnv(1469598103934665603ull, s->dir | (uint64_t)s->deny_all << 8, 2);

	h = fnv(h, s->n_rows, 1);
	for (size_t i = 0; i < s->n_rows; i++)
		h = fnv(h, row_key(&s->rows[i]), 5);
	for (size_t i = 0; i < s->n_prefixes; i++)
		h = fnv(fnv(h, prefix_key(&s->prefixes[i]), 5), s->prefixes[i].rows, 8);
	return h;
}

/* Whether two sets have the same content: the build shares one set, the patch falls back. */
bool pol_set_equal(const struct kx_pol_set *x, const struct kx_pol_set *y)
{
	if (x->dir != y->dir || x->deny_all != y->deny_all || x->n_rows != y->n_rows ||
	    x->n_prefixes != y->n_prefixes)
		return false;
	for (size_t i = 0; i < x->n_rows; i++)
		if (row_key(&x->rows[i]) != row_key(&y->rows[i]))
			return false;
	for (size_t i = 0; i < x->n_prefixes; i++)
		if (prefix_key(&x->prefixes[i]) != prefix_key(&y->prefixes[i]) ||
		    x->prefixes[i].rows != y->prefixes[i].rows)
			return false;
	return true;
}

/* s->policies, the sorted union of what it has and pols. */
static int policies_merge(struct kx_pol_set *s, const struct u32_vec *pols)
{
	struct u32_vec all = {0};

	for (size_t i = 0; i < s->n_policies; i++)
		if (u32_push(&all, s->policies[i]))
			goto oom;
	for (size_t i = 0; i < pols->n; i++)
		if (u32_push(&all, pols->v[i]))
			goto oom;
	u32_sort_unique(&all);
	free(s->policies);
	s->policies = all.v;
	s->n_policies = all.n;
	return 0;
oom:
	free(all.v);
	return -1;
}

/* Room in t->sets (and its hashes) for one more. */
static int sets_room(struct build *b)
{
	uint64_t *hashes;

	if (pol_grow((void **)&b->t->sets, &b->cap_sets, b->t->n_sets, sizeof(*b->t->sets)))
		return -1;
	hashes = realloc(b->set_hash, b->cap_sets * sizeof(*hashes));
	if (!hashes)
		return -1;
	b->set_hash = hashes;
	return 0;
}

/* The index of set s in t->sets: an equal one (s freed), else s itself appended. */
static int32_t set_add(struct build *b, struct kx_pol_set *s, const struct u32_vec *pols)
{
	struct kx_pol_table *t = b->t;
	uint64_t h = set_hash(s);

	for (size_t i = 0; i < t->n_sets; i++) {
		if (b->set_hash[i] != h || !pol_set_equal(&t->sets[i], s))
			continue;
		free(s->prefixes);
		return policies_merge(&t->sets[i], pols) ? -1 : (int32_t)i;
	}
	if (sets_room(b) || policies_merge(s, pols)) {
		free(s->prefixes);
		free(s->policies);
		return -1;
	}
	b->set_hash[t->n_sets] = h;
	t->sets[t->n_sets] = *s;
	return (int32_t)t->n_sets++;
}

/* A refusal for each policy of a pod's set too large, once per policy and direction. */
static int refuse_set(struct build *b, size_t k, enum kx_pol_dir dir, size_t n_wanted)
{
	const struct k8s_pod *pod = &b->st->pods[b->t->pods[k].pod];
	const struct u32_vec *pols = &b->selecting[k].by_dir[dir];
	const char *way = dir == KX_POL_INGRESS ? "ingress" : "egress";
	char object[64 + K8S_NAME_MAX], reason[512];

	snprintf(reason, sizeof(reason),
		 "pod %s/%s %s: the policies selecting it need %zu port ranges, more than %d; "
		 "the pod denies all %s (fails closed)",
		 pod->ns, pod->name, way, n_wanted, KX_POL_SET_ROWS, way);
	for (size_t i = 0; i < pols->n; i++) {
		const struct k8s_netpol *np = &b->st->netpols[pols->v[i]];

		if (b->refused[dir][pols->v[i]])
			continue;
		b->refused[dir][pols->v[i]] = true;
		snprintf(object, sizeof(object), "%s/%s", np->ns, np->name);
		if (!k8s_refuse(&b->t->refused, "NetworkPolicy", object, reason))
			return -1;
	}
	return 0;
}

/* The set of local pod k for dir: shared with an earlier pod's, or flattened and added. */
static int pod_set(struct build *b, size_t k, enum kx_pol_dir dir)
{
	const struct u32_vec *pols = &b->selecting[k].by_dir[dir];
	struct pol_set_input in = {.st = b->st,
				   .cache = b->cache,
				   .scratch = &b->scratch,
				   .target = b->t->pods[k].pod,
				   .dir = dir,
				   .policies = pols->v,
				   .n_policies = pols->n};
	struct kx_pol_set s;
	size_t n_wanted = 0;
	int32_t *set = &b->t->pods[k].set[dir];

	if (!pols->n)
		return 0;
	*set = same_policies(b, k, dir);
	if (*set >= 0)
		return 0;
	if (pol_set_flatten(&in, &s, &n_wanted))
		return -1;
	if (s.deny_all && refuse_set(b, k, dir, n_wanted))
		return -1;
	*set = set_add(b, &s, pols);
	return *set < 0 ? -1 : 0;
}

/* qsort order of t->ns by name. */
static int pol_ns_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kx_pol_ns *)a)->name, ((const struct kx_pol_ns *)b)->name);
}

/* t->ns: each namespace with a policy isolating some direction, its directions ORed. */
static int isolating_namespaces(struct build *b)
{
	const struct k8s_state *st = b->st;
	struct kx_pol_table *t = b->t;
	size_t n = 0;

	t->ns = calloc(st->n_netpols + 1, sizeof(*t->ns));
	if (!t->ns)
		return -1;
	for (size_t p = 0; p < st->n_netpols; p++) {
		uint8_t dirs = st->netpols[p].ingress_type << KX_POL_INGRESS |
			       st->netpols[p].egress_type << KX_POL_EGRESS;

		if (!dirs)
			continue;
		snprintf(t->ns[t->n_ns].name, sizeof(t->ns->name), "%s", st->netpols[p].ns);
		t->ns[t->n_ns++].dirs = dirs;
	}
	qsort(t->ns, t->n_ns, sizeof(*t->ns), pol_ns_cmp);
	for (size_t i = 0; i < t->n_ns; i++) {
		if (n && !pol_ns_cmp(&t->ns[n - 1], &t->ns[i]))
			t->ns[n - 1].dirs |= t->ns[i].dirs;
		else
			t->ns[n++] = t->ns[i];
	}
	t->n_ns = n;
	return 0;
}

/* Every step after the index: selection, sets, namespaces. */
static int build_run(struct build *b, const char *node)
{
	const struct k8s_state *st = b->st;

	if (local_pods(b, node))
		return -1;
	b->cache = calloc(st->n_netpols + 1, sizeof(*b->cache));
	b->selecting = calloc(b->t->n_pods + 1, sizeof(*b->selecting));
	b->refused[0] = calloc(st->n_netpols + 1, sizeof(bool));
	b->refused[1] = calloc(st->n_netpols + 1, sizeof(bool));
	b->scratch.listed = calloc(st->n_pods + 1, sizeof(*b->scratch.listed));
	b->scratch.rows = calloc(st->n_pods + 1, sizeof(*b->scratch.rows));
	if (!b->cache || !b->selecting || !b->refused[0] || !b->refused[1] || !b->scratch.listed ||
	    !b->scratch.rows)
		return -1;
	for (uint32_t p = 0; p < st->n_netpols; p++)
		for (int dir = 0; dir < 2; dir++)
			if (pol_has_type(&st->netpols[p], dir) && select_local(b, p, dir))
				return -1;
	for (size_t k = 0; k < b->t->n_pods; k++)
		for (int dir = 0; dir < 2; dir++)
			if (pod_set(b, k, dir))
				return -1;
	return isolating_namespaces(b);
}

/* The working state, freed (the table stays). */
static void build_free(struct build *b)
{
	if (b->cache)
		pol_cache_free(b->st, b->cache, b->st->n_netpols);
	for (size_t k = 0; b->selecting && k < b->t->n_pods; k++) {
		free(b->selecting[k].by_dir[0].v);
		free(b->selecting[k].by_dir[1].v);
	}
	free(b->selecting);
	free(b->set_hash);
	free(b->refused[0]);
	free(b->refused[1]);
	free(b->scratch.listed);
	free(b->scratch.rows);
	free(b->scratch.pods.v);
	pol_index_free(&b->ix);
}

/* The whole table from the state: pods, selection, sets, namespaces (see policy.h). */
int kx_policy_build(const struct k8s_state *st, const char *node, struct kx_pol_table *t,
		    struct kx_err *err)
{
	struct build b = {.st = st, .t = t};
	int ret;

	memset(t, 0, sizeof(*t));
	ret = pol_index_build(st, &b.ix) ? -1 : build_run(&b, node);
	build_free(&b);
	if (ret) {
		kx_errf(err, "policy: out of memory compiling %zu NetworkPolicies over %zu pods",
			st->n_netpols, st->n_pods);
		kx_pol_table_free(t);
	}
	return ret;
}

/* Everything a table holds, freed; t is left empty. */
void kx_pol_table_free(struct kx_pol_table *t)
{
	for (size_t i = 0; i < t->n_sets; i++) {
		free(t->sets[i].prefixes);
		free(t->sets[i].policies);
	}
	free(t->sets);
	free(t->pods);
	free(t->ns);
	k8s_refusals_free(&t->refused);
	memset(t, 0, sizeof(*t));
}
