// SPDX-License-Identifier: GPL-2.0
/*
 * The state indexed once per build (endpoint pods by namespace and by
 * address, each namespace's labels), and the peer pods of a policy's rules,
 * computed once for every local pod the policy selects.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

/* qsort_r order of endpoint pods by namespace, then index. */
static int by_ns_cmp(const void *a, const void *b, void *arg)
{
	const struct k8s_state *st = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(st->pods[x].ns, st->pods[y].ns);

	return c ? c : (x > y) - (x < y);
}

/* qsort_r order of endpoint pods by address (host order), then index. */
static int by_addr_cmp(const void *a, const void *b, void *arg)
{
	const struct k8s_state *st = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t ax = ntohl(st->pods[x].addr), ay = ntohl(st->pods[y].addr);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (x > y) - (x < y);
}

/* The labels of namespace ns (empty when its object is unknown); linear, for one look-up. */
const struct k8s_labels *pol_ns_labels(const struct k8s_state *st, const char *ns)
{
	for (size_t i = 0; i < st->n_namespaces; i++)
		if (!strcmp(st->namespaces[i].name, ns))
			return &st->namespaces[i].labels;
	return &pol_no_labels;
}

/* qsort order of Namespace objects by name. */
static int ns_obj_cmp(const void *a, const void *b)
{
	const struct k8s_namespace *x = *(const struct k8s_namespace *const *)a;
	const struct k8s_namespace *y = *(const struct k8s_namespace *const *)b;

	return strcmp(x->name, y->name);
}

/* bsearch order of a name against a Namespace object. */
static int ns_name_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct k8s_namespace *const *)elem)->name);
}

/* Each group's namespace labels, through the Namespace objects sorted by name. */
static int groups_label(struct pol_index *ix)
{
	const struct k8s_state *st = ix->st;
	const struct k8s_namespace **objs = calloc(st->n_namespaces + 1, sizeof(*objs));

	if (!objs)
		return -1;
	for (size_t i = 0; i < st->n_namespaces; i++)
		objs[i] = &st->namespaces[i];
	qsort(objs, st->n_namespaces, sizeof(*objs), ns_obj_cmp);
	for (size_t g = 0; g < ix->n_groups; g++) {
		const struct k8s_namespace *const *hit = bsearch(
			ix->groups[g].ns, objs, st->n_namespaces, sizeof(*objs), ns_name_cmp);

		ix->groups[g].labels = hit ? &(*hit)->labels : &pol_no_labels;
	}
	free(objs);
	return 0;
}

/* Cut by_ns into one group per namespace. */
static int groups_cut(struct pol_index *ix)
{
	const struct k8s_state *st = ix->st;

	ix->groups = calloc(ix->n_endpoints + 1, sizeof(*ix->groups));
	if (!ix->groups)
		return -1;
	for (size_t i = 0; i < ix->n_endpoints; i++) {
		const char *ns = st->pods[ix->by_ns[i]].ns;
		struct pol_ns_group *last = ix->n_groups ? &ix->groups[ix->n_groups - 1] : NULL;

		if (last && !strcmp(last->ns, ns)) {
			last->n_pods++;
			continue;
		}
		ix->groups[ix->n_groups++] =
			(struct pol_ns_group){.ns = ns, .pods = &ix->by_ns[i], .n_pods = 1};
	}
	return groups_label(ix);
}

/* Index the endpoint pods of st: by namespace (with its labels) and by address. */
int pol_index_build(const struct k8s_state *st, struct pol_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->st = st;
	ix->by_ns = calloc(st->n_pods + 1, sizeof(*ix->by_ns));
	ix->by_addr = calloc(st->n_pods + 1, sizeof(*ix->by_addr));
	if (!ix->by_ns || !ix->by_addr)
		return -1;
	for (uint32_t i = 0; i < st->n_pods; i++)
		if (pol_endpoint(&st->pods[i]))
			ix->by_ns[ix->n_endpoints++] = i;
	memcpy(ix->by_addr, ix->by_ns, ix->n_endpoints * sizeof(*ix->by_addr));
	qsort_r(ix->by_ns, ix->n_endpoints, sizeof(*ix->by_ns), by_ns_cmp, (void *)st);
	qsort_r(ix->by_addr, ix->n_endpoints, sizeof(*ix->by_addr), by_addr_cmp, (void *)st);
	return groups_cut(ix);
}

/* The index's arrays, freed. */
void pol_index_free(struct pol_index *ix)
{
	free(ix->by_ns);
	free(ix->groups);
	free(ix->by_addr);
	memset(ix, 0, sizeof(*ix));
}

/* bsearch order of a namespace name against a group. */
static int group_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pol_ns_group *)elem)->ns);
}

/* The pods of group g a PODS peer's podSelector admits, onto out. */
static int group_pods(const struct pol_index *ix, const struct pol_ns_group *g,
		      const struct k8s_np_peer *peer, struct u32_vec *out)
{
	for (size_t i = 0; i < g->n_pods; i++)
		if (pol_peer_labels_admit(peer, &ix->st->pods[g->pods[i]].labels) &&
		    u32_push(out, g->pods[i]))
			return -1;
	return 0;
}

/* The endpoint pods a PODS peer of np matches: its namespaces, then its pods (AND). */
static int peer_pods(const struct pol_index *ix, const struct k8s_netpol *np,
		     const struct k8s_np_peer *peer, struct u32_vec *out)
{
	const struct pol_ns_group *g;

	if (!peer->has_ns_sel) {
		g = bsearch(np->ns, ix->groups, ix->n_groups, sizeof(*g), group_cmp);
		return g ? group_pods(ix, g, peer, out) : 0;
	}
	for (g = ix->groups; g < ix->groups + ix->n_groups; g++)
		if (pol_peer_ns_admits(np, peer, g->ns, g->labels) && group_pods(ix, g, peer, out))
			return -1;
	return 0;
}

/* The first endpoint (in by_addr) whose address is at least addr. */
static size_t addr_lower_bound(const struct pol_index *ix, uint32_t addr)
{
	size_t lo = 0, hi = ix->n_endpoints;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ntohl(ix->st->pods[ix->by_addr[mid]].addr) < ntohl(addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The endpoint pods an ipBlock admits (pod IPs match ipBlocks too), onto out. */
static int block_pods(const struct pol_index *ix, const struct k8s_np_peer *peer,
		      struct u32_vec *out)
{
	for (size_t i = addr_lower_bound(ix, pol_net(peer->cidr.addr, peer->cidr.len));
	     i < ix->n_endpoints; i++) {
		uint32_t addr = ix->st->pods[ix->by_addr[i]].addr;

		if (!pol_prefix_holds(peer->cidr.addr, peer->cidr.len, addr))
			break;
		if (pol_block_admits(peer, addr) && u32_push(out, ix->by_addr[i]))
			return -1;
	}
	return 0;
}

/* Every endpoint pod a rule's peers admit, once each: where its named ports resolve. */
static int rule_dst(const struct pol_index *ix, const struct k8s_np_rule *r,
		    struct pol_rule_peers *rp)
{
	size_t n;
	const struct k8s_np_peer *peers = pol_rule_peers(r, &n);

	for (size_t i = 0; i < n; i++) {
		const struct u32_vec *pods = r->n_peers ? &rp->pods[i] : NULL;

		if (peers[i].kind == K8S_PEER_BLOCK && block_pods(ix, &peers[i], &rp->dst))
			return -1;
		for (size_t j = 0; pods && j < pods->n; j++)
			if (u32_push(&rp->dst, pods->v[j]))
				return -1;
	}
	u32_sort_unique(&rp->dst);
	return 0;
}

/* One rule's peer pods (and, egress with named ports, its destination pods). */
static int rule_fill(const struct pol_index *ix, const struct k8s_netpol *np,
		     const struct k8s_np_rule *r, enum kx_pol_dir dir, struct pol_rule_peers *rp)
{
	rp->pods = calloc(r->n_peers + 1, sizeof(*rp->pods));
	if (!rp->pods)
		return -1;
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i].kind == K8S_PEER_PODS &&
		    peer_pods(ix, np, &r->peers[i], &rp->pods[i]))
			return -1;
	if (dir == KX_POL_EGRESS && pol_rule_has_named(r))
		return rule_dst(ix, r, rp);
	return 0;
}

/* The peers of policy's rules for dir, computed the first time a local pod needs them. */
int pol_cache_fill(const struct pol_index *ix, uint32_t policy, enum kx_pol_dir dir,
		   struct pol_cache *c)
{
	const struct k8s_netpol *np = &ix->st->netpols[policy];
	size_t n;
	const struct k8s_np_rule *rules = pol_rules(np, dir, &n);

	if (c->rules[dir])
		return 0;
	c->rules[dir] = calloc(n + 1, sizeof(*c->rules[dir]));
	if (!c->rules[dir])
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (rule_fill(ix, np, &rules[i], dir, &c->rules[dir][i]))
			return -1;
		if (dir == KX_POL_INGRESS && pol_rule_has_named(&rules[i]))
			c->named_ingress = true;
	}
	return 0;
}

/* One rule's peer pods, freed. */
static void rule_peers_free(const struct k8s_np_rule *r, struct pol_rule_peers *rp)
{
	for (size_t i = 0; rp->pods && i < r->n_peers; i++)
		free(rp->pods[i].v);
	free(rp->pods);
	free(rp->dst.v);
}

/* The caches of n policies, freed. */
void pol_cache_free(const struct k8s_state *st, struct pol_cache *c, size_t n)
{
	for (size_t p = 0; p < n; p++) {
		for (int dir = 0; dir < 2; dir++) {
			size_t n_rules;
			const struct k8s_np_rule *rules = pol_rules(&st->netpols[p], dir, &n_rules);

			for (size_t i = 0; c[p].rules[dir] && i < n_rules; i++)
				rule_peers_free(&rules[i], &c[p].rules[dir][i]);
			free(c[p].rules[dir]);
		}
	}
	free(c);
}
